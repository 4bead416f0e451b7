import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import EventReplay
import Foundation
import HotelTime
import Logging
import PostgresNIO
import RdKafka
import ServiceLifecycle

/// Rebuilds the metrics rollups from the event log: the metrics stage, under a fresh schema and a fresh
/// consumer group, reads every input topic from its beginning until the group has committed up to the
/// ends the topics had when the rebuild started (``EventReplay/StageReplay``); then ``compare(_:with:hotels:from:to:now:settings:client:logger:)``
/// puts the rebuilt KPIs beside the live ones. `redress metrics rebuild` and the tests use it.
public struct MetricsRebuild: Sendable {
    public var settings: ServiceSettings
    public var metrics: MetricsSettings
    public var topics: MetricsService.Topics
    /// The fresh schema the rollups are rebuilt in (created; dropped by the caller when not kept).
    public var schema: SchemaName
    public var logger: Logger

    public init(settings: ServiceSettings, metrics: MetricsSettings, topics: MetricsService.Topics = .init(), schema: SchemaName, logger: Logger) {
        self.settings = settings
        self.metrics = metrics
        self.topics = topics
        self.schema = schema
        self.logger = logger
    }

    /// The rebuild's service: the metrics stage's code and migrations under its own schema and group.
    public var service: RedressService {
        RedressService(
            name: RedressService.metrics.name, executable: "\(RedressService.metrics.executable)-rebuild-\(schema.rawValue)", schema: schema,
            developmentPort: 0, migrationFolder: RedressService.metrics.migrationFolder)
    }

    /// The topics read: ``topics`` under the settings' ``ComplaintPipeline/ServiceSettings/topicPrefix``
    /// (`KAFKA_TOPIC_PREFIX`), as the metrics service of that environment reads them.
    public var prefixedTopics: MetricsService.Topics {
        topics.prefixed(settings.topicPrefix)
    }

    /// Replays the topics into ``schema`` (``EventReplay/StageReplay``: nothing is published);
    /// `progress` hears about once a second how many messages are still to go.
    /// - Returns: What the replay did once the group reached the ends the topics had when it began.
    /// - Throws: A ``EventReplay/ReplayTimedOut`` when the group is not there within `timeout`.
    @discardableResult
    public func run(timeout: Duration = .seconds(600), progress: @escaping @Sendable (Int64) -> Void = { _ in }) async throws -> ReplayOutcome {
        var parts = MetricsService.Parts()
        parts.earlyWarning = false
        parts.gauges = nil
        parts.liveFeed = false
        let runtime = MetricsService.makeRuntime(
            service: service, settings: settings, settings: LiveConfiguration(name: "metrics", fixed: metrics), topics: prefixedTopics, parts: parts,
            logger: logger)
        return try await StageReplay(runtime: runtime, logger: logger).run(timeout: timeout, progress: progress)
    }

    /// The database's clock now: take it just before ``run(timeout:progress:)`` reads the topics' ends,
    /// and compare with `unchangedSince` it (the live facts applied after it may be missing from the replay).
    public static func markTime(client: PostgresClient, logger: Logger) async throws -> Date {
        let rows = try await client.query("SELECT clock_timestamp()", logger: logger)
        for try await time in rows.decode(Date.self) { return time }
        return Date()
    }

    /// The live metrics group (the settings' prefix) has committed at least up to `stop` (a replay's end
    /// marks), so the live schema holds every fact the replay read; `false` if it lags after `timeout`.
    /// An error asking is asked again until `timeout`; `redress metrics rebuild` compares as for a lag when
    /// this throws, so the rebuild's work is kept.
    /// - Throws: The last error when the group's offsets could not be asked at all within `timeout`.
    public func waitForLiveGroup(reaching stop: [String: [Int32: Int64]], timeout: Duration) async throws -> Bool {
        let admin = try KafkaAdminClient(
            bootstrapServers: settings.kafkaBrokers,
            additionalProperties: settings.kafkaProperties.filter { !["fetch.wait.max.ms", "max.partition.fetch.bytes"].contains($0.key) },
            logger: logger)
        let group = settings.topicPrefix + RedressService.metrics.executable
        return try await admin.waitForGroup(group, reaching: stop, timeout: timeout).reached(stop)
    }

    /// The hotels a rebuild compares: those of the metrics file, and every hotel either schema has seen in
    /// an event. A hotel only the live schema knows (its events gone from the topics by retention, or a
    /// replay that missed them) is compared too, and shows as differing rather than being left out.
    public static func hotelsToCompare(
        _ live: SchemaName, with rebuilt: SchemaName, settings: MetricsSettings, client: PostgresClient, logger: Logger
    ) async throws -> [MetricsSettings.Hotel] {
        var hotels = Set(settings.hotels.keys)
        for schema in [live, rebuilt] {
            let seen = try await client.query(PostgresQuery(unsafeSQL: "SELECT hotel_id FROM \(schema.rawValue).hotels"), logger: logger)
            for try await id in seen.decode(String.self) { hotels.insert(id) }
        }
        return hotels.sorted().map(settings.hotel)
    }

    /// One hotel's KPIs in both schemas and whether they agree.
    public struct Comparison: Sendable {
        public var hotelID: String
        public var live: KPIReport
        public var rebuilt: KPIReport
        /// The report members that differ (empty when the rebuild gives the same numbers).
        public var differences: [String]
        /// Complaints left out of both sides: the live stage applied facts of them after the end marks.
        public var excluded: Int = 0
    }

    /// The KPIs of `hotels` over `from`…`to` (daily groups) in schema `live` and schema `rebuilt`, member by member.
    ///
    /// With `unchangedSince` (``markTime(client:logger:)`` taken before the replay read its end marks),
    /// complaints the live stage applied a fact of at or after that time are left out of both sides:
    /// their later facts (a follow-up weeks on, a reopening) are in the live schema and not in the
    /// replay, so they would differ however right both are.
    public static func compare(
        _ live: SchemaName, with rebuilt: SchemaName, hotels: [MetricsSettings.Hotel], from: LocalDate, to: LocalDate, now: Date,
        unchangedSince marked: Date? = nil, settings: MetricsSettings, client: PostgresClient, logger: Logger
    ) async throws -> [Comparison] {
        var query = KPIQuery(hotels: [], from: from, to: to, groupBy: .day)
        var comparisons: [Comparison] = []
        for hotel in hotels {
            query.hotels = [hotel]
            if let marked {
                var changed: [UUID] = []
                let rows = try await client.query(
                    "SELECT complaint_id FROM \(unescaped: live.rawValue).complaints WHERE hotel_id = \(hotel.id) AND fact_at >= \(marked)",
                    logger: logger)
                for try await id in rows.decode(UUID.self) { changed.append(id) }
                query.excludedComplaints = changed
            }
            let frozen = query
            func report(_ schema: SchemaName) async throws -> KPIReport {
                try await StageStore(client: client, schema: schema, logger: logger).read { connection, logger in
                    try await KPIStore(settings: settings).report(frozen, now: now, on: connection, logger: logger)
                }
            }
            let liveReport = try await report(live), rebuiltReport = try await report(rebuilt)
            comparisons.append(Comparison(
                hotelID: hotel.id, live: liveReport, rebuilt: rebuiltReport, differences: try differences(liveReport, rebuiltReport),
                excluded: frozen.excludedComplaints.count))
        }
        return comparisons
    }

    /// The members of the range compared: the groups, the totals and the top root causes. The backlog
    /// and budgets are "now" figures that any later event moves; they are not compared.
    static let compared: Set<String> = ["groups", "totals", "topRootCauses"]

    /// The compared members of two reports whose JSON differs.
    static func differences(_ lhs: KPIReport, _ rhs: KPIReport) throws -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func members(_ report: KPIReport) throws -> [String: Data] {
            let object = try JSONSerialization.jsonObject(with: try encoder.encode(report)) as? [String: Any] ?? [:]
            return try object.mapValues { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) }
        }
        let left = try members(lhs), right = try members(rhs)
        return compared.sorted().filter { left[$0] != right[$0] }
    }
}
