import ComplaintEvents
import Foundation
import HotelTime
import Logging
import PostgresNIO

/// Answers a ``KPIQuery`` from the metrics schema's rollups in one read transaction: the complaint
/// figures (with exact medians and 90th percentiles), approved compensation, the top root causes and the
/// open backlog. Definitions: `services/metrics/README.md`.
public struct KPIStore: Sendable {
    /// The backlog's severity for complaints not classified yet.
    public static let unclassifiedSeverity = "unknown"

    public var settings: MetricsSettings

    public init(settings: MetricsSettings) {
        self.settings = settings
    }

    /// Categories the quality index counts as facility and room complaints (tangibles).
    static let facilityCategories: [ComplaintCategory] = [.cleanliness, .maintenance, .amenities, .connectivity, .noise]
    /// Categories it counts as assurance complaints (staff conduct, safety).
    static let assuranceCategories: [ComplaintCategory] = [.staffBehavior, .safetySecurity]

    /// The report for `query`, the backlog and budgets as of `now`.
    public func report(_ query: KPIQuery, now: Date, on connection: PostgresConnection, logger: Logger) async throws -> KPIReport {
        // Percentiles sort a range's times: in memory, not on disk (this transaction only).
        try await connection.query("SET LOCAL work_mem = '32MB'", logger: logger)
        let bounds = query.bounds()
        let scope = Scope(
            ids: bounds.map(\.hotel.id), zones: bounds.map { $0.hotel.timeZone.identifier }, starts: bounds.map(\.start),
            ends: bounds.map(\.end))
        var figures = try await complaintFigures(query, scope: scope, on: connection, logger: logger)
        let spend = try await compensation(query, scope: scope, on: connection, logger: logger)
        for index in figures.indices {
            figures[index].compensation = spend[figures[index].key ?? ""] ?? []
        }
        // A day (or category …) with approvals but no registrations still shows its spend.
        let keys = Set(figures.compactMap(\.key))
        for (key, amounts) in spend where !key.isEmpty && !keys.contains(key) {
            var group = Self.empty(key: key)
            group.compensation = amounts
            figures.append(group)
        }
        figures.sort { ($0.key == nil ? 1 : 0, $0.key ?? "") < ($1.key == nil ? 1 : 0, $1.key ?? "") }
        let totalsIndex = figures.firstIndex { $0.key == nil }
        let totals = totalsIndex.map { figures.remove(at: $0) } ?? Self.empty(key: nil)
        var filters: [String: String] = [:]
        filters["category"] = query.category?.rawValue
        filters["severity"] = query.severity?.rawValue
        filters["channel"] = query.channel?.rawValue
        filters["department"] = query.department
        return KPIReport(
            hotels: scope.ids, from: query.from.description, to: query.to.description, groupBy: query.groupBy.rawValue, filters: filters,
            groups: figures, totals: totals,
            topRootCauses: try await rootCauses(query, scope: scope, on: connection, logger: logger),
            backlog: try await backlog(query, now: now, on: connection, logger: logger),
            budgets: try await budgets(hotels: query.hotels, now: now, on: connection, logger: logger))
    }

    /// The hotels and instants a query covers, as arrays to unnest.
    struct Scope {
        var ids: [String]
        var zones: [String]
        var starts: [Date]
        var ends: [Date]
    }

    /// The SQL of a grouping key, from a time column and a hotel column.
    static func groupKey(_ grouping: KPIQuery.Grouping, time: String, hotel: String) -> String? {
        switch grouping {
        case .none: nil
        case .day: "to_char(\(time) AT TIME ZONE b.zone, 'YYYY-MM-DD')"
        case .week: "to_char(date_trunc('week', \(time) AT TIME ZONE b.zone), 'YYYY-MM-DD')"
        case .month: "to_char(\(time) AT TIME ZONE b.zone, 'YYYY-MM')"
        case .hotel: hotel
        case .department: "COALESCE(c.department, 'unknown')"
        case .category: "COALESCE(c.category, 'unknown')"
        case .severity: "COALESCE(c.severity, 'unknown')"
        case .channel: "COALESCE(c.channel, 'unknown')"
        }
    }

    /// `unnest(…) AS b(hotel_id, zone, start_at, end_at)`: each hotel with its zone and range.
    private static func addBounds(_ scope: Scope, to sql: inout SQLText) throws {
        let ids = try sql.bind(scope.ids), zones = try sql.bind(scope.zones), starts = try sql.bind(scope.starts)
        let ends = try sql.bind(scope.ends)
        sql.add("unnest(\(ids)::text[], \(zones)::text[], \(starts)::timestamptz[], \(ends)::timestamptz[]) AS b(hotel_id, zone, start_at, end_at)")
    }

    /// The query's filters on the complaint `c`.
    private static func addFilters(_ query: KPIQuery, to sql: inout SQLText) throws {
        let category = try sql.bind(query.category?.rawValue), severity = try sql.bind(query.severity?.rawValue)
        let channel = try sql.bind(query.channel?.rawValue), department = try sql.bind(query.department)
        sql.add("""
            (\(category)::text IS NULL OR c.category = \(category)) AND (\(severity)::text IS NULL OR c.severity = \(severity))
            AND (\(channel)::text IS NULL OR c.channel = \(channel)) AND (\(department)::text IS NULL OR c.department = \(department))
            """)
        // Only when there are any: the complaint id is not in the covering index the API's queries read alone.
        if !query.excludedComplaints.isEmpty {
            let excluded = try sql.bind(query.excludedComplaints)
            sql.add(" AND NOT COALESCE(c.complaint_id = ANY(\(excluded)::uuid[]), false)")
        }
    }

    private func complaintFigures(_ query: KPIQuery, scope: Scope, on connection: PostgresConnection, logger: Logger) async throws -> [KPIFigures] {
        let key = Self.groupKey(query.groupBy, time: "c.registered_at", hotel: "c.hotel_id")
        let keyColumn = key ?? "NULL::text"
        let grouping = key.map { "GROUPING SETS ((\($0)), ())" } ?? "()"
        let isTotal = key.map { "GROUPING(\($0)) = 1" } ?? "true"
        let facility = Self.facilityCategories.map(\.rawValue), assurance = Self.assuranceCategories.map(\.rawValue)
        var sql = SQLText("SELECT \(keyColumn) AS key, \(isTotal) AS total, ")
        let facilityList = try sql.bind(facility)
        let assuranceList = try sql.bind(assurance)
        sql.add("""
            count(*) AS volume,
            count(c.acknowledged_at) AS acknowledged,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY date_part('epoch', c.acknowledged_at - c.registered_at)) AS acknowledge_p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY date_part('epoch', c.acknowledged_at - c.registered_at)) AS acknowledge_p90,
            count(c.first_resolved_at) AS resolved,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY date_part('epoch', c.first_resolved_at - c.registered_at)) AS resolve_p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY date_part('epoch', c.first_resolved_at - c.registered_at)) AS resolve_p90,
            count(*) FILTER (WHERE c.acknowledge_met > 0 AND c.acknowledge_breaches = 0) AS acknowledge_met,
            count(*) FILTER (WHERE c.acknowledge_breaches > 0) AS acknowledge_breached,
            COALESCE(sum(c.acknowledge_breaches), 0)::bigint AS acknowledge_breaches,
            count(*) FILTER (WHERE c.resolve_met > 0 AND c.resolve_breaches = 0) AS resolve_met,
            count(*) FILTER (WHERE c.resolve_breaches > 0) AS resolve_breached,
            COALESCE(sum(c.resolve_breaches), 0)::bigint AS resolve_breaches,
            count(*) FILTER (WHERE c.escalation_level >= 1) AS escalated_1,
            count(*) FILTER (WHERE c.escalation_level >= 2) AS escalated_2,
            count(*) FILTER (WHERE c.escalation_level >= 3) AS escalated_3,
            count(*) FILTER (WHERE c.first_resolved_at IS NOT NULL AND c.first_contact) AS first_contact,
            count(*) FILTER (WHERE c.first_resolved_at IS NOT NULL AND c.reopen_count > 0) AS reopened,
            count(c.is_repeat) AS with_guest_key,
            count(*) FILTER (WHERE c.is_repeat) AS repeats,
            count(c.satisfaction) AS satisfaction_responses,
            avg(c.satisfaction)::float8 AS satisfaction_mean,
            count(*) FILTER (WHERE c.satisfaction = 1) AS satisfaction_1,
            count(*) FILTER (WHERE c.satisfaction = 2) AS satisfaction_2,
            count(*) FILTER (WHERE c.satisfaction = 3) AS satisfaction_3,
            count(*) FILTER (WHERE c.satisfaction = 4) AS satisfaction_4,
            count(*) FILTER (WHERE c.satisfaction = 5) AS satisfaction_5,
            count(c.nps) AS nps_responses,
            count(*) FILTER (WHERE c.nps >= 9) AS promoters,
            count(*) FILTER (WHERE c.nps BETWEEN 7 AND 8) AS passives,
            count(*) FILTER (WHERE c.nps <= 6) AS detractors,
            COALESCE(sum(c.guest_notes), 0)::bigint AS guest_notes,
            count(*) FILTER (WHERE c.category = ANY(\(facilityList)::text[])) AS facility,
            count(*) FILTER (WHERE c.category = ANY(\(assuranceList)::text[])) AS assurance
            FROM\u{20}
            """)
        try Self.addBounds(scope, to: &sql)
        sql.add(" JOIN complaints c ON c.hotel_id = b.hotel_id AND c.registered_at >= b.start_at AND c.registered_at < b.end_at WHERE ")
        try Self.addFilters(query, to: &sql)
        sql.add(" GROUP BY \(grouping) ORDER BY total, key")
        var figures: [KPIFigures] = []
        for try await row in try await connection.query(sql.query, logger: logger) {
            let cells = row.makeRandomAccess()
            func int(_ name: String) throws -> Int { Int(try cells[name].decode(Int64.self)) }
            func double(_ name: String) throws -> Double? { try cells[name].decode(Double?.self) }
            let total = try cells["total"].decode(Bool.self)
            let volume = try int("volume")
            let resolved = try int("resolved")
            let acknowledgeMet = try int("acknowledge_met"), acknowledgeBreached = try int("acknowledge_breached")
            let resolveMet = try int("resolve_met"), resolveBreached = try int("resolve_breached")
            let withGuestKey = try int("with_guest_key")
            let npsResponses = try int("nps_responses"), promoters = try int("promoters"), detractors = try int("detractors")
            figures.append(KPIFigures(
                key: total ? nil : try cells["key"].decode(String?.self) ?? "unknown",
                volume: volume,
                timeToAcknowledge: .init(count: try int("acknowledged"), medianSeconds: try double("acknowledge_p50"), p90Seconds: try double("acknowledge_p90")),
                timeToResolve: .init(count: resolved, medianSeconds: try double("resolve_p50"), p90Seconds: try double("resolve_p90")),
                acknowledgeSLA: .init(
                    met: acknowledgeMet, breached: acknowledgeBreached,
                    compliance: KPIArithmetic.rate(acknowledgeMet, of: acknowledgeMet + acknowledgeBreached),
                    breaches: try int("acknowledge_breaches")),
                resolveSLA: .init(
                    met: resolveMet, breached: resolveBreached, compliance: KPIArithmetic.rate(resolveMet, of: resolveMet + resolveBreached),
                    breaches: try int("resolve_breaches")),
                escalations: ["1": try int("escalated_1"), "2": try int("escalated_2"), "3": try int("escalated_3")],
                firstContactResolution: Self.rate(try int("first_contact"), of: resolved),
                repeatComplaints: Self.rate(try int("repeats"), of: withGuestKey),
                reopened: Self.rate(try int("reopened"), of: resolved),
                satisfaction: .init(
                    responses: try int("satisfaction_responses"), mean: try double("satisfaction_mean"),
                    distribution: try (1...5).map { try int("satisfaction_\($0)") }),
                netPromoter: .init(
                    responses: npsResponses, promoters: promoters, passives: try int("passives"), detractors: detractors,
                    score: KPIArithmetic.netPromoterScore(promoters: promoters, detractors: detractors, responses: npsResponses)),
                compensation: [], guestNotes: try int("guest_notes"), facilityComplaints: try int("facility"),
                assuranceComplaints: try int("assurance")))
        }
        return figures
    }

    static func rate(_ count: Int, of whole: Int) -> KPIFigures.Rate {
        KPIFigures.Rate(count: count, of: whole, rate: KPIArithmetic.rate(count, of: whole))
    }

    static func empty(key: String?) -> KPIFigures {
        KPIFigures(
            key: key, volume: 0, timeToAcknowledge: .init(count: 0), timeToResolve: .init(count: 0),
            acknowledgeSLA: .init(met: 0, breached: 0, breaches: 0), resolveSLA: .init(met: 0, breached: 0, breaches: 0),
            escalations: ["1": 0, "2": 0, "3": 0], firstContactResolution: rate(0, of: 0), repeatComplaints: rate(0, of: 0),
            reopened: rate(0, of: 0), satisfaction: .init(responses: 0, distribution: [0, 0, 0, 0, 0]),
            netPromoter: .init(responses: 0, promoters: 0, passives: 0, detractors: 0), compensation: [], guestNotes: 0,
            facilityComplaints: 0, assuranceComplaints: 0)
    }

    /// Approved compensation by group key ("" for the whole range) and currency, on the day of approval.
    private func compensation(_ query: KPIQuery, scope: Scope, on connection: PostgresConnection, logger: Logger) async throws -> [String: [KPIFigures.Spend]] {
        let key = Self.groupKey(query.groupBy, time: "p.decided_at", hotel: "p.hotel_id")
        let keyColumn = key ?? "NULL::text"
        let grouping = key.map { "GROUPING SETS ((\($0), p.currency), (p.currency))" } ?? "p.currency"
        let isTotal = key.map { "GROUPING(\($0)) = 1" } ?? "true"
        var sql = SQLText("""
            SELECT \(keyColumn) AS key, \(isTotal) AS total, p.currency, count(*) AS approved, sum(p.amount_minor)::bigint AS amount FROM\u{20}
            """)
        try Self.addBounds(scope, to: &sql)
        let approved = try sql.bind(ComplaintUpdated.Kind.compensationApproved.rawValue)
        sql.add("""
             JOIN compensations p ON p.hotel_id = b.hotel_id AND p.status = \(approved)
                AND p.decided_at >= b.start_at AND p.decided_at < b.end_at
            LEFT JOIN complaints c ON c.complaint_id = p.complaint_id WHERE\u{20}
            """)
        try Self.addFilters(query, to: &sql)
        sql.add(" GROUP BY \(grouping) ORDER BY p.currency")
        var spend: [String: [KPIFigures.Spend]] = [:]
        for try await (key, total, currency, approved, amount) in try await connection.query(sql.query, logger: logger)
            .decode((String?, Bool, String, Int64, Int64).self) {
            spend[total ? "" : key ?? "unknown", default: []].append(.init(currency: currency, count: Int(approved), amountMinor: amount))
        }
        return spend
    }

    private func rootCauses(_ query: KPIQuery, scope: Scope, on connection: PostgresConnection, logger: Logger) async throws -> [KPIReport.RootCause] {
        var sql = SQLText("SELECT c.root_cause, count(*) FROM ")
        try Self.addBounds(scope, to: &sql)
        sql.add(" JOIN complaints c ON c.hotel_id = b.hotel_id AND c.registered_at >= b.start_at AND c.registered_at < b.end_at WHERE c.root_cause IS NOT NULL AND ")
        try Self.addFilters(query, to: &sql)
        sql.add(" GROUP BY c.root_cause ORDER BY count(*) DESC, c.root_cause LIMIT 5")
        var causes: [KPIReport.RootCause] = []
        for try await (cause, count) in try await connection.query(sql.query, logger: logger).decode((String, Int64).self) {
            causes.append(.init(rootCause: cause, count: Int(count)))
        }
        return causes
    }

    private func backlog(_ query: KPIQuery, now: Date, on connection: PostgresConnection, logger: Logger) async throws -> KPIReport.Backlog {
        // Open: the schema's generated `is_open` (not resolved or closed, reopening included).
        let ids = query.hotels.map(\.id)
        var sql = SQLText()
        let at = try sql.bind(now), hotels = try sql.bind(ids)
        sql.add("""
            SELECT COALESCE(c.severity, '\(Self.unclassifiedSeverity)') AS severity, count(*) AS open,
                count(*) FILTER (WHERE c.registered_at > \(at)::timestamptz - interval '1 hour') AS under_1h,
                count(*) FILTER (WHERE c.registered_at <= \(at)::timestamptz - interval '1 hour' AND c.registered_at > \(at)::timestamptz - interval '4 hours') AS h1_4,
                count(*) FILTER (WHERE c.registered_at <= \(at)::timestamptz - interval '4 hours' AND c.registered_at > \(at)::timestamptz - interval '24 hours') AS h4_24,
                count(*) FILTER (WHERE c.registered_at <= \(at)::timestamptz - interval '24 hours' AND c.registered_at > \(at)::timestamptz - interval '72 hours') AS d1_3,
                count(*) FILTER (WHERE c.registered_at <= \(at)::timestamptz - interval '72 hours') AS over_3d
            FROM complaints c
            WHERE c.hotel_id = ANY(\(hotels)::text[]) AND c.is_open AND c.registered_at IS NOT NULL AND c.registered_at <= \(at)::timestamptz
              AND\u{20}
            """)
        try Self.addFilters(query, to: &sql)
        sql.add(" GROUP BY 1")
        var backlog = KPIReport.Backlog(open: 0, under1h: 0, from1hTo4h: 0, from4hTo24h: 0, from1dTo3d: 0, over3d: 0, bySeverity: [:])
        for try await (severity, open, a, b, c, d, e) in try await connection.query(sql.query, logger: logger)
            .decode((String, Int64, Int64, Int64, Int64, Int64, Int64).self) {
            backlog.bySeverity[severity] = Int(open)
            backlog.open += Int(open)
            backlog.under1h += Int(a)
            backlog.from1hTo4h += Int(b)
            backlog.from4hTo24h += Int(c)
            backlog.from1dTo3d += Int(d)
            backlog.over3d += Int(e)
        }
        return backlog
    }

    /// Each hotel's approved spend this calendar month (its own zone) against its budget, per currency
    /// budgeted or spent.
    public func budgets(hotels: [MetricsSettings.Hotel], now: Date, on connection: PostgresConnection, logger: Logger) async throws -> [KPIReport.Budget] {
        var result: [KPIReport.Budget] = []
        for hotel in hotels {
            let calendar = ZonedCalendar(timeZone: hotel.timeZone)
            let today = calendar.day(of: now)
            let first = LocalDate(year: today.year, month: today.month, day: 1)
            guard let start = calendar.instant(first, LocalTime(hour: 0, minute: 0)) else { continue }
            var spent: [String: Int64] = [:]
            let rows = try await connection.query("""
                SELECT currency, sum(amount_minor)::bigint FROM compensations
                WHERE hotel_id = \(hotel.id) AND status = \(ComplaintUpdated.Kind.compensationApproved.rawValue)
                  AND decided_at >= \(start) AND decided_at <= \(now)
                GROUP BY currency
                """, logger: logger)
            for try await (currency, amount) in rows.decode((String, Int64).self) { spent[currency] = amount }
            for currency in Set(spent.keys).union(hotel.monthlyBudget.keys).sorted() {
                let budget = hotel.monthlyBudget[currency] ?? 0
                let amount = spent[currency] ?? 0
                result.append(.init(
                    hotelId: hotel.id, month: String(first.description.prefix(7)), currency: currency, budgetMinor: budget, spentMinor: amount,
                    used: budget > 0 ? Double(amount) / Double(budget) : nil))
            }
        }
        return result
    }
}
