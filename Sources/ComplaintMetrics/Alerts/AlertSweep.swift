import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// One measurement the early warning judges: a category's count, a currency's spend, a target's compliance.
struct AlertMeasurement: Sendable, Hashable {
    var hotelID: String
    var kind: EarlyWarningAlert.Kind
    var subject: String
    var window: AlertWindow
    var observed: Double
    var baseline: Double
    var ratio: Double
    var pValue: Double?
    var threshold: Double
    var raises: Bool
    var clears: Bool
    var severity: AlertSeverity

    var key: String { "\(hotelID)|\(kind.rawValue)|\(subject)" }
}

/// Every `every`, measures each hotel against the early-warning rules and raises or clears episodes on
/// `alerts.v1` through the outbox, in one transaction under an advisory lock (replicas take turns; the
/// unique index on open episodes is the last guard). Method: `services/metrics/README.md`.
public struct AlertSweep: Service {
    var store: StageStore
    var settings: LiveConfiguration<MetricsSettings>
    var topic: Topic<EarlyWarningAlert>
    var source: String
    var lockKey: String
    var clock: @Sendable () -> Date
    var logger: Logger

    public init(
        store: StageStore, settings: LiveConfiguration<MetricsSettings>, topic: Topic<EarlyWarningAlert>, source: String, lockKey: String,
        clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        self.store = store
        self.settings = settings
        self.topic = topic
        self.source = source
        self.lockKey = lockKey
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let published = try await sweep(now: clock())
                if published > 0 { logger.info("early warning", metadata: ["alerts.published": "\(published)"]) }
            } catch {
                logger.warning("early-warning sweep failed; next round retries", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: settings.current.earlyWarning.every) }
            } catch {
                return
            }
        }
    }

    /// Measures and publishes once; returns the number of raised and cleared events.
    @discardableResult
    public func sweep(now: Date) async throws -> Int {
        let current = settings.current
        let topic = self.topic, source = self.source, lockKey = self.lockKey
        return try await store.write { connection, logger in
            var locked = false
            for try await granted in try await connection.query("SELECT pg_try_advisory_xact_lock(hashtext(\(lockKey)))", logger: logger)
                .decode(Bool.self) { locked = granted }
            guard locked else { return (0, []) }
            let measurements = try await AlertMeasurements(settings: current, now: now).measure(on: connection, logger: logger)
            let open = try await AlertStore.open(on: connection, logger: logger)
            var events: [OutgoingEvent] = []
            var openKeys: [String: AlertStore.Episode] = [:]
            for episode in open { openKeys["\(episode.hotelId)|\(episode.kind.rawValue)|\(episode.subject)"] = episode }
            for measurement in measurements {
                if let episode = openKeys[measurement.key] {
                    // Worse than when raised (spend past 120 %, p below 10⁻⁶, 20 points under target):
                    // raised again under its id as critical, so paging that routes on severity hears it.
                    if !measurement.clears, measurement.severity == .critical, episode.severity != .critical {
                        try await AlertStore.worsen(episode.alertId, to: measurement, on: connection, logger: logger)
                        events.append(try event(measurement, id: episode.alertId, state: .raised, now: now, topic: topic, source: source))
                        try await announce(measurement, state: .raised, now: now, connection: connection, logger: logger)
                        continue
                    }
                    guard measurement.clears else { continue }
                    try await AlertStore.clear(episode.alertId, at: now, on: connection, logger: logger)
                    events.append(try event(measurement, id: episode.alertId, state: .cleared, now: now, topic: topic, source: source))
                    try await announce(measurement, state: .cleared, now: now, connection: connection, logger: logger)
                } else if measurement.raises {
                    let id = UUID()
                    try await AlertStore.insert(AlertStore.Episode(
                        alertId: id, hotelId: measurement.hotelID, kind: measurement.kind, subject: measurement.subject,
                        severity: measurement.severity, observed: measurement.observed, baseline: measurement.baseline,
                        pValue: measurement.pValue, windowStart: measurement.window.start, windowEnd: measurement.window.end, raisedAt: now,
                        clearedAt: nil), on: connection, logger: logger)
                    events.append(try event(measurement, id: id, state: .raised, now: now, topic: topic, source: source))
                    try await announce(measurement, state: .raised, now: now, connection: connection, logger: logger)
                }
            }
            // An episode nothing measures any more (a budget removed from the file, a month without spend in
            // its currency) clears rather than staying open for ever.
            let measured = Set(measurements.map(\.key))
            for (key, episode) in openKeys where !measured.contains(key) {
                let gone = AlertMeasurement(
                    hotelID: episode.hotelId, kind: episode.kind, subject: episode.subject,
                    window: AlertWindow(start: episode.windowStart, end: now), observed: 0, baseline: episode.baseline, ratio: 0,
                    pValue: nil, threshold: 0, raises: false, clears: true, severity: episode.severity)
                try await AlertStore.clear(episode.alertId, at: now, on: connection, logger: logger)
                events.append(try event(gone, id: episode.alertId, state: .cleared, now: now, topic: topic, source: source))
                try await announce(gone, state: .cleared, now: now, connection: connection, logger: logger)
            }
            return (events.count, events)
        }
    }

    /// Tells the dashboards: `kind` is the alert kind, `status` raised or cleared.
    private func announce(
        _ measurement: AlertMeasurement, state: EarlyWarningAlert.State, now: Date, connection: PostgresConnection, logger: Logger
    ) async throws {
        try await LiveUpdate(
            topic: "alert", hotelId: measurement.hotelID, complaintId: nil, kind: measurement.kind.rawValue,
            severity: measurement.severity.rawValue, subject: measurement.subject, status: state.rawValue, at: now
        ).notify(on: FactRecorder.liveChannel(schema: lockKey), connection: connection, logger: logger)
    }

    private func event(
        _ measurement: AlertMeasurement, id: UUID, state: EarlyWarningAlert.State, now: Date, topic: Topic<EarlyWarningAlert>, source: String
    ) throws -> OutgoingEvent {
        let alert = EarlyWarningAlert(
            alertID: id, hotelID: measurement.hotelID, kind: measurement.kind, state: state,
            category: measurement.kind == .categorySpike ? ComplaintCategory(rawValue: measurement.subject) : nil,
            currency: measurement.kind == .compensationBudget ? measurement.subject : nil,
            slaTarget: measurement.kind == .slaCompliance ? SLATarget(rawValue: measurement.subject) : nil,
            severity: measurement.severity, window: measurement.window, observed: Int(measurement.observed.rounded()),
            baseline: measurement.baseline, ratio: min(measurement.ratio, 1_000_000), pValue: measurement.pValue,
            threshold: measurement.threshold, detectedAt: now)
        return try OutgoingEvent(EventEnvelope(source: source, time: now, hotelID: measurement.hotelID, data: alert), on: topic)
    }
}

/// Reads what the early warning judges from the rollups.
struct AlertMeasurements {
    var settings: MetricsSettings
    var now: Date

    func measure(on connection: PostgresConnection, logger: Logger) async throws -> [AlertMeasurement] {
        var hotels = Set(settings.hotels.keys)
        for try await id in try await connection.query("SELECT hotel_id FROM hotels", logger: logger).decode(String.self) { hotels.insert(id) }
        let list = hotels.sorted().map(settings.hotel)
        return try await spikes(hotels: list, on: connection, logger: logger)
            + (try await budgets(hotels: list, on: connection, logger: logger))
            + (try await compliance(hotels: list.map(\.id), on: connection, logger: logger))
    }

    /// Each hotel × category with complaints in the window or in the same window of earlier weeks: the
    /// same hours of the same weekday on the hotel's clock, so a daylight-saving change does not shift them.
    /// The current window (k = 0) is counted by instants: through the local clock and back, the night the
    /// clocks go back maps a window inside the repeated hour to one instant, an empty window that cleared an
    /// open spike (raised again under a new alert id the next sweep). A comparison week's window starts at
    /// the same time on the hotel's clock and lasts as long as the current one: its end shifted on the clock
    /// too, that night's comparison windows were empty as well (a norm of `minimumBaseline`, so five
    /// complaints where six are usual raised a spike), and a window across the change an hour long or short.
    func spikes(hotels: [MetricsSettings.Hotel], on connection: PostgresConnection, logger: Logger) async throws -> [AlertMeasurement] {
        let rules = settings.earlyWarning
        let detector = SpikeDetector(rules: rules)
        let end = now, start = now.addingTimeInterval(-rules.window)
        let ids = hotels.map(\.id), zones = hotels.map(\.timeZone.identifier)
        let rows = try await connection.query("""
            SELECT c.hotel_id, c.category, k, count(*)
            FROM unnest(\(ids)::text[], \(zones)::text[]) AS h(hotel_id, zone)
            CROSS JOIN generate_series(0, \(rules.baselineWeeks)) AS k
            CROSS JOIN LATERAL (SELECT
                CASE WHEN k = 0 THEN \(start)::timestamptz
                     ELSE ((\(start)::timestamptz AT TIME ZONE h.zone) - k * interval '1 week') AT TIME ZONE h.zone END,
                CASE WHEN k = 0 THEN \(end)::timestamptz
                     ELSE ((\(start)::timestamptz AT TIME ZONE h.zone) - k * interval '1 week') AT TIME ZONE h.zone
                          + \(end.timeIntervalSince(start)) * interval '1 second' END
            ) AS w(starts, ends)
            JOIN complaints c ON c.hotel_id = h.hotel_id AND c.registered_at >= w.starts AND c.registered_at < w.ends
            WHERE c.category IS NOT NULL
            GROUP BY 1, 2, 3
            """, logger: logger)
        var counts: [String: (hotel: String, category: String, current: Int, history: [Int])] = [:]
        for try await (hotel, category, week, count) in rows.decode((String, String, Int64, Int64).self) {
            let key = "\(hotel)|\(category)"
            var entry = counts[key] ?? (hotel, category, 0, Array(repeating: 0, count: rules.baselineWeeks))
            if week == 0 { entry.current = Int(count) } else if Int(week) <= rules.baselineWeeks { entry.history[Int(week) - 1] = Int(count) }
            counts[key] = entry
        }
        // Open spikes whose category went quiet are measured at 0 so they can clear.
        for try await (hotel, subject) in try await connection.query(
            "SELECT hotel_id, subject FROM alerts WHERE cleared_at IS NULL AND kind = \(EarlyWarningAlert.Kind.categorySpike.rawValue)",
            logger: logger
        ).decode((String, String).self) where counts["\(hotel)|\(subject)"] == nil {
            counts["\(hotel)|\(subject)"] = (hotel, subject, 0, Array(repeating: 0, count: rules.baselineWeeks))
        }
        return counts.values.sorted { ($0.hotel, $0.category) < ($1.hotel, $1.category) }.map { entry in
            let verdict = detector.evaluate(observed: entry.current, history: entry.history)
            return AlertMeasurement(
                hotelID: entry.hotel, kind: .categorySpike, subject: entry.category, window: AlertWindow(start: start, end: end),
                observed: Double(entry.current), baseline: verdict.baseline, ratio: Double(entry.current) / max(verdict.baseline, 1),
                pValue: verdict.pValue, threshold: rules.pValue, raises: verdict.raises, clears: verdict.clears, severity: verdict.severity)
        }
    }

    /// Each hotel's approved spend this month against the month's budget, per currency.
    func budgets(hotels: [MetricsSettings.Hotel], on connection: PostgresConnection, logger: Logger) async throws -> [AlertMeasurement] {
        let budgets = try await KPIStore(settings: settings).budgets(hotels: hotels, now: now, on: connection, logger: logger)
        return budgets.map { budget in
            let hotel = settings.hotel(budget.hotelId)
            let calendar = HotelMonth(timeZone: hotel.timeZone, now: now)
            let used = budget.used ?? (budget.spentMinor > 0 ? Double.infinity : 0)
            return AlertMeasurement(
                hotelID: budget.hotelId, kind: .compensationBudget, subject: budget.currency, window: AlertWindow(start: calendar.start, end: now),
                observed: Double(budget.spentMinor), baseline: Double(budget.budgetMinor),
                ratio: Double(budget.spentMinor) / max(Double(budget.budgetMinor), 1), pValue: nil, threshold: 1,
                // A budget removed or set to 0 judges nothing: an episode it raised clears.
                raises: budget.budgetMinor > 0 && used > 1, clears: budget.budgetMinor == 0 || used <= 1, severity: used > 1.2 ? .critical : .warning)
        }
    }

    /// Each hotel's share of deadlines met, per target, for complaints registered in the trailing window.
    func compliance(hotels: [String], on connection: PostgresConnection, logger: Logger) async throws -> [AlertMeasurement] {
        let rules = settings.earlyWarning
        let start = now.addingTimeInterval(-rules.slaWindow)
        let rows = try await connection.query("""
            SELECT hotel_id,
                count(*) FILTER (WHERE acknowledge_met > 0 AND acknowledge_breaches = 0),
                count(*) FILTER (WHERE acknowledge_breaches > 0),
                count(*) FILTER (WHERE resolve_met > 0 AND resolve_breaches = 0),
                count(*) FILTER (WHERE resolve_breaches > 0)
            FROM complaints WHERE hotel_id = ANY(\(hotels)) AND registered_at >= \(start) AND registered_at < \(now)
            GROUP BY hotel_id
            """, logger: logger)
        var measurements: [AlertMeasurement] = []
        var measured: Set<String> = []
        for try await (hotel, ackMet, ackBreached, resolveMet, resolveBreached) in rows.decode((String, Int64, Int64, Int64, Int64).self) {
            measured.insert(hotel)
            for (target, met, breached) in [(SLATarget.acknowledge, ackMet, ackBreached), (.resolve, resolveMet, resolveBreached)] {
                measurements.append(complianceMeasurement(hotel: hotel, target: target, met: Int(met), decided: Int(met + breached), start: start))
            }
        }
        for hotel in hotels where !measured.contains(hotel) {
            for target in [SLATarget.acknowledge, .resolve] {
                measurements.append(complianceMeasurement(hotel: hotel, target: target, met: 0, decided: 0, start: start))
            }
        }
        return measurements
    }

    private func complianceMeasurement(hotel: String, target: SLATarget, met: Int, decided: Int, start: Date) -> AlertMeasurement {
        let goal = settings.complianceTarget(target)
        let enough = decided >= settings.earlyWarning.slaMinimumDecided
        let rate = decided > 0 ? Double(met) / Double(decided) : 1
        return AlertMeasurement(
            hotelID: hotel, kind: .slaCompliance, subject: target.rawValue, window: AlertWindow(start: start, end: now),
            observed: Double(met), baseline: Double(decided), ratio: rate, pValue: nil, threshold: goal,
            raises: enough && rate < goal, clears: !enough || rate >= goal, severity: rate < goal - 0.2 ? .critical : .warning)
    }
}

/// The start of the calendar month containing `now` in a hotel's zone.
struct HotelMonth {
    var start: Date

    init(timeZone: TimeZone, now: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        start = calendar.dateInterval(of: .month, for: now)?.start ?? now
    }
}
