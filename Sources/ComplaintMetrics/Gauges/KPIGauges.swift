import ComplaintEvents
import ComplaintPipeline
import Foundation
import HotelTime
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle
import Synchronization

/// Puts the KPIs into their own registry as gauges, recomputed every `interval` through the same
/// ``KPIStore`` the API uses, so Prometheus, the API and the dashboard agree. They are served at
/// `/v1/metrics` to admin keys only: every hotel's figures are there, and the service's public
/// `/metrics` (the runtime's own metrics) is reachable by anyone who reaches the dashboard. Labels are bounded: hotel, category,
/// severity, channel, currency, SLA target, escalation level, alert kind — never a complaint or a guest.
/// Time KPIs cover the hotel's last 30 days (local), spend the current month.
public struct KPIGauges: Service {
    var store: StageStore
    var settings: LiveConfiguration<MetricsSettings>
    var registry: PrometheusCollectorRegistry
    var interval: Duration
    var clock: @Sendable () -> Date
    var logger: Logger

    public init(
        store: StageStore, settings: LiveConfiguration<MetricsSettings>, registry: PrometheusCollectorRegistry, interval: Duration,
        clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        self.store = store
        self.settings = settings
        self.registry = registry
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await refresh(now: clock())
            } catch {
                logger.warning("KPI gauges not refreshed; next round retries", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    /// Recomputes every gauge once.
    public func refresh(now: Date) async throws {
        let current = settings.current
        let read = try await store.read { connection, logger in
            var seen = Set(current.hotels.keys)
            for try await id in try await connection.query("SELECT hotel_id FROM hotels", logger: logger).decode(String.self) { seen.insert(id) }
            var samples: [Sample] = []
            let kpis = KPIStore(settings: current)
            var queries: [KPIQuery] = []
            for hotel in seen.sorted().map(current.hotel) {
                let calendar = ZonedCalendar(timeZone: hotel.timeZone)
                let today = calendar.day(of: now)
                let query = KPIQuery(hotels: [hotel], from: calendar.day(today, plus: -29) ?? today, to: today)
                queries.append(query)
                let report = try await kpis.report(query, now: now, on: connection, logger: logger)
                samples += Self.samples(hotel: hotel.id, report: report)
            }
            samples += try await Self.volumes(queries, on: connection, logger: logger)
            for active in try await AlertStore.activeCounts(on: connection, logger: logger) {
                samples.append(Sample(.activeAlerts, Double(active.count), [("hotel", active.hotel), ("kind", active.kind), ("severity", active.severity)]))
            }
            return samples
        }
        // Every figure was read: Prometheus can tell how old they are (a refresh that fails leaves it as it was).
        let samples = read + [Sample(.refreshedAt, now.timeIntervalSince1970, [])]
        // Sum samples of one series (several alerts of one kind), then publish.
        var values: [String: (Sample, Double)] = [:]
        for sample in samples {
            let id = sample.metric.rawValue + sample.labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
            values[id] = (sample, (values[id]?.1 ?? 0) + sample.value)
        }
        var gauges: [String: Gauge] = [:]
        for (series, (sample, value)) in values {
            let gauge = registry.makeGauge(
                descriptor: MetricNameDescriptor(metricName: sample.metric.rawValue, unitName: "", helpText: sample.metric.help), labels: sample.labels)
            gauge.set(value)
            gauges[series] = gauge
        }
        // A series with no value any more (an alert cleared, a median without data) leaves the exposition.
        let vanished = published.withLock { previous in
            defer { previous = gauges }
            return previous.filter { gauges[$0.key] == nil }.map(\.value)
        }
        for gauge in vanished { registry.unregisterGauge(gauge) }
    }

    private let published = MutexBox<[String: Gauge]>([:])

    /// `redress_kpi_complaints_30d_by` of every hotel in one statement: the volumes of each hotel's range
    /// by category, by severity and by channel (`unknown` where not known yet), as `/v1/kpis` groups them.
    static func volumes(_ queries: [KPIQuery], on connection: PostgresConnection, logger: Logger) async throws -> [Sample] {
        let bounds = queries.flatMap { $0.bounds() }
        guard !bounds.isEmpty else { return [] }
        let ids = bounds.map(\.hotel.id), starts = bounds.map(\.start), ends = bounds.map(\.end)
        // GROUPING(category, severity, channel) tells the sets apart: 3 by category, 5 by severity, 6 by channel.
        let rows = try await connection.query("""
            SELECT b.hotel_id, GROUPING(c.category, c.severity, c.channel)::int AS grouping,
                   COALESCE(c.category, 'unknown'), COALESCE(c.severity, 'unknown'), COALESCE(c.channel, 'unknown'), count(*)
            FROM unnest(\(ids)::text[], \(starts)::timestamptz[], \(ends)::timestamptz[]) AS b(hotel_id, start_at, end_at)
            JOIN complaints c ON c.hotel_id = b.hotel_id AND c.registered_at >= b.start_at AND c.registered_at < b.end_at
            GROUP BY GROUPING SETS ((b.hotel_id, c.category), (b.hotel_id, c.severity), (b.hotel_id, c.channel))
            """, logger: logger)
        var samples: [Sample] = []
        for try await (hotel, grouping, category, severity, channel, count) in rows.decode((String, Int32, String, String, String, Int64).self) {
            let label: (String, String)
            switch grouping {
            case 3: label = (KPIQuery.Grouping.category.rawValue, category)
            case 5: label = (KPIQuery.Grouping.severity.rawValue, severity)
            case 6: label = (KPIQuery.Grouping.channel.rawValue, channel)
            default: continue
            }
            samples.append(Sample(.complaints30d, Double(count), [("hotel", hotel), label]))
        }
        return samples
    }

    /// One gauge value with its labels.
    struct Sample: Sendable {
        var metric: KPIMetric
        var value: Double
        var labels: [(String, String)]
        init(_ metric: KPIMetric, _ value: Double, _ labels: [(String, String)]) {
            self.metric = metric
            self.value = value
            self.labels = labels
        }
    }

    static func samples(hotel: String, report: KPIReport) -> [Sample] {
        let totals = report.totals
        var samples: [Sample] = [Sample(.complaints30dTotal, Double(totals.volume), [("hotel", hotel)])]
        func add(_ metric: KPIMetric, _ value: Double?, _ labels: [(String, String)] = []) {
            if let value { samples.append(Sample(metric, value, [("hotel", hotel)] + labels)) }
        }
        add(.acknowledgeMedian, totals.timeToAcknowledge.medianSeconds)
        add(.acknowledgeP90, totals.timeToAcknowledge.p90Seconds)
        add(.resolveMedian, totals.timeToResolve.medianSeconds)
        add(.resolveP90, totals.timeToResolve.p90Seconds)
        add(.slaCompliance, totals.acknowledgeSLA.compliance, [("target", SLATarget.acknowledge.rawValue)])
        add(.slaCompliance, totals.resolveSLA.compliance, [("target", SLATarget.resolve.rawValue)])
        add(.breaches30d, Double(totals.acknowledgeSLA.breaches), [("target", SLATarget.acknowledge.rawValue)])
        add(.breaches30d, Double(totals.resolveSLA.breaches), [("target", SLATarget.resolve.rawValue)])
        for level in ["1", "2", "3"] { add(.escalations30d, Double(totals.escalations[level] ?? 0), [("level", level)]) }
        add(.firstContactResolution, totals.firstContactResolution.rate)
        add(.repeatRate, totals.repeatComplaints.rate)
        add(.reopenRate, totals.reopened.rate)
        add(.satisfaction, totals.satisfaction.mean)
        add(.netPromoterScore, totals.netPromoter.score)
        add(.surveyResponses30d, Double(totals.netPromoter.responses))
        // Every severity, and `unknown` for complaints not classified yet: a classifier outage grows
        // exactly that part of the backlog.
        for severity in Severity.allCases.map(\.rawValue) + [KPIStore.unclassifiedSeverity] {
            add(.openComplaints, Double(report.backlog.bySeverity[severity] ?? 0), [("severity", severity)])
        }
        for budget in report.budgets {
            add(.compensationSpent, Double(budget.spentMinor), [("currency", budget.currency)])
            add(.compensationBudget, Double(budget.budgetMinor), [("currency", budget.currency)])
        }
        return samples
    }
}

/// The KPI gauges' names and help, in one place (the README's table lists them).
enum KPIMetric: String, Sendable {
    case complaints30dTotal = "redress_kpi_complaints_30d"
    case complaints30d = "redress_kpi_complaints_30d_by"
    case acknowledgeMedian = "redress_kpi_time_to_acknowledge_median_seconds"
    case acknowledgeP90 = "redress_kpi_time_to_acknowledge_p90_seconds"
    case resolveMedian = "redress_kpi_time_to_resolve_median_seconds"
    case resolveP90 = "redress_kpi_time_to_resolve_p90_seconds"
    case slaCompliance = "redress_kpi_sla_compliance_ratio"
    case breaches30d = "redress_kpi_sla_breaches_30d"
    case escalations30d = "redress_kpi_escalated_complaints_30d"
    case firstContactResolution = "redress_kpi_first_contact_resolution_ratio"
    case repeatRate = "redress_kpi_repeat_complaint_ratio"
    case reopenRate = "redress_kpi_reopen_ratio"
    case satisfaction = "redress_kpi_satisfaction_mean"
    case netPromoterScore = "redress_kpi_net_promoter_score"
    case surveyResponses30d = "redress_kpi_survey_responses_30d"
    case openComplaints = "redress_kpi_open_complaints"
    case compensationSpent = "redress_kpi_compensation_spent_month_minor"
    case compensationBudget = "redress_kpi_compensation_budget_month_minor"
    case activeAlerts = "redress_kpi_active_alerts"
    case refreshedAt = "redress_kpi_refreshed_timestamp_seconds"

    var help: String {
        switch self {
        case .complaints30dTotal: "Complaints registered in the hotel's last 30 local days"
        case .complaints30d: "Complaints registered in the hotel's last 30 local days, by category, severity or channel"
        case .acknowledgeMedian: "Median time from registration to acknowledgement over the last 30 days"
        case .acknowledgeP90: "90th percentile of the time from registration to acknowledgement over the last 30 days"
        case .resolveMedian: "Median time from registration to first resolution over the last 30 days"
        case .resolveP90: "90th percentile of the time from registration to first resolution over the last 30 days"
        case .slaCompliance: "Share of complaints of the last 30 days that met every deadline of the target, of those decided"
        case .breaches30d: "Deadline breaches of complaints registered in the last 30 days"
        case .escalations30d: "Complaints of the last 30 days escalated to at least the level"
        case .firstContactResolution: "Share of resolved complaints of the last 30 days resolved at first contact"
        case .repeatRate: "Share of complaints of the last 30 days from a guest who complained at the hotel within the repeat window"
        case .reopenRate: "Share of resolved complaints of the last 30 days reopened at least once"
        case .satisfaction: "Mean follow-up satisfaction (1-5) over the last 30 days"
        case .netPromoterScore: "Net Promoter Score (-100..100) of follow-up answers over the last 30 days"
        case .surveyResponses30d: "Follow-up answers over the last 30 days"
        case .openComplaints: "Complaints open now (not resolved or closed)"
        case .compensationSpent: "Approved compensation this calendar month, in minor units"
        case .compensationBudget: "Compensation budget of this calendar month, in minor units"
        case .activeAlerts: "Early-warning episodes open now"
        case .refreshedAt: "Unix time of the last refresh that read every KPI gauge (alert when it falls behind)"
        }
    }
}

/// A value behind a lock, for the gauges' bookkeeping between rounds.
final class MutexBox<Value: Sendable>: Sendable {
    private let lock: Synchronization.Mutex<Value>
    init(_ value: Value) { lock = Synchronization.Mutex(value) }
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result { lock.withLock { body(&$0) } }
}
