@testable import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// The classifier's tables no longer grow for ever: old verdicts, their corrections and guest history go
/// in batches, and what the repeat rules still need stays.
@Suite("Classifier retention", .timeLimit(.minutes(2)))
struct ClassifierRetentionTests {
    static let day: TimeInterval = 86_400

    static func count(_ table: String, _ schema: SchemaName, _ client: PostgresClient) async throws -> Int {
        try await client.scalar("SELECT count(*)::int FROM \(unescaped: schema.rawValue).\(unescaped: table)", as: Int.self)
    }

    @Test("verdicts unchanged past the retention go with their corrections, guest history past the repeat window and the inbox's age goes, the rest stays")
    func purgesOldRowsOnly() async throws {
        let service = RedressService.classifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let now = Date()
            let classification = await Repository.engine.classify(ComplaintInput(text: "The bedside lamp flickers now and then."))
            let guest = "guest-" + UUID().uuidString
            // Days ago: verdicts past 90 days go (100, 91), guest history past 40 days goes (100, 91, 41).
            let ages: [Double] = [100, 91, 41, 39, 1]
            let ids = ages.map { _ in UUID() }
            try await store.write { connection, logger in
                let tables = ClassificationStore()
                for (id, age) in zip(ids, ages) {
                    let at = now.addingTimeInterval(-age * Self.day)
                    try await tables.record(
                        GuestVisit(guestKey: guest, hotelID: "TST-R01", reservationReference: nil, complaintID: id, registeredAt: at),
                        on: connection, logger: logger)
                    _ = try await tables.save(
                        classification, complaintID: id, hotelID: "TST-R01", classifiedAt: at, registeredAt: at, on: connection, logger: logger)
                }
                // A staff correction of the oldest (it goes with its verdict) and of one within the retention (it stays).
                for id in [ids[0], ids[3]] {
                    try await connection.query(
                        """
                        INSERT INTO classification_corrections
                            (correction_id, complaint_id, hotel_id, staff_id, api_key_id, category, severity, reason, previous_category,
                             previous_severity, classified_at, idempotency_key, request_sha256, verdict)
                        VALUES (\(UUID()), \(id), 'TST-R01', 'dm-test', 'key-1', 'maintenance', 'moderate', 'test', 'maintenance', 'minor',
                                now(), \(id.uuidString), '\\x00'::bytea, '{}'::jsonb)
                        """, logger: logger)
                }
                return ((), [])
            }
            var configuration = ClassifierRetention.Configuration()
            configuration.batchSize = 2
            let retention = ClassifierRetention(store: store, configuration: configuration, logger: .complaintTest)
            let purged = try await retention.purgeOnce(now: now)
            #expect(purged.guestHistory == 3)
            #expect(purged.classifications == 2)
            #expect(purged.corrections == 1)
            let schema = service.schema
            let keptHistory = try await client.query(
                "SELECT complaint_id FROM \(unescaped: schema.rawValue).guest_history", logger: .complaintTest
            ).collect().map { try $0.decode(UUID.self) }
            #expect(Set(keptHistory) == Set([ids[3], ids[4]]))
            let keptVerdicts = try await client.query(
                "SELECT complaint_id FROM \(unescaped: schema.rawValue).classifications", logger: .complaintTest
            ).collect().map { try $0.decode(UUID.self) }
            #expect(Set(keptVerdicts) == Set([ids[2], ids[3], ids[4]]))
            #expect(try await Self.count("classification_corrections", schema, client) == 1)
            // A second round finds nothing more.
            #expect(try await retention.purgeOnce(now: now).total == 0)
            // Off: nothing goes.
            var off = ClassifierRetention.Configuration()
            off.retention = nil
            #expect(try await ClassifierRetention(store: store, configuration: off, logger: .complaintTest).purgeOnce(now: now.addingTimeInterval(400 * Self.day)).total == 0)
        }
    }

    @Test("right after a purge at the shortest retention, a late complaint of a guest who complained 29 days before it is still a repeat")
    func repeatAfterPurge() async throws {
        let service = RedressService.classifier.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let handler = ClassifierHandler(engine: Repository.engine)
            let now = Date()
            var earlier = try EventFixtures.received()
            earlier.data.text = "空调不制冷，房间里闷热得睡不着"
            earlier.data.guest.isVIP = false
            earlier.data.guest.reservationReference = "RES-EARLIER"
            // Registered 37 days ago; the late one 8 days ago (still within the inbox's 9 days), 29 days after it.
            earlier.data.registeredAt = now.addingTimeInterval(-37 * Self.day)
            var late = try EventFixtures.received()
            late.data.text = "Loud music from the room next door until 3am"
            late.data.guest.isVIP = false
            late.data.guest.guestKey = earlier.data.guest.guestKey
            late.data.hotelID = earlier.data.hotelID
            late.data.guest.reservationReference = "RES-LATE"
            late.data.registeredAt = now.addingTimeInterval(-8 * Self.day)
            // Classified when it came in.
            var then = handler
            let registered = earlier.data.registeredAt
            then.clock = { registered.addingTimeInterval(60) }
            _ = try await GuestHistoryLockTests.classify(earlier, handler: then, store: store, schema: service.schema)

            var configuration = ClassifierRetention.Configuration()
            configuration.retention = .seconds(30 * 86_400)
            let purged = try await ClassifierRetention(store: store, configuration: configuration, logger: .complaintTest).purgeOnce(now: now)
            // The verdict of 37 days ago went (retention 30 days), the guest's visit stayed.
            #expect(purged.classifications == 1)
            #expect(purged.guestHistory == 0)
            let classified = try await GuestHistoryLockTests.classify(late, handler: handler, store: store, schema: service.schema)
            #expect(classified.flags.isRepeat, "the guest's complaint 29 days earlier was purged")
        }
    }

    /// The purge's batches had no index for their cutoff: each read the whole table of verdicts (or of guest
    /// history), hourly and once per batch of 500. Migration 0003 adds one on each; the planner must be able
    /// to use it (sequential scans priced out, so the answer does not depend on the table's size).
    @Test("the purge's batch queries can use the retention indexes (0003)")
    func batchesUseIndexes() async throws {
        let service = RedressService.classifier.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let cutoff = Date().addingTimeInterval(-90 * Self.day)
            let plans: [(String, PostgresQuery)] = [
                ("classifications_classified_at", ClassifierRetention.verdictBatch(before: cutoff, limit: 500)),
                ("guest_history_registered_at", ClassifierRetention.guestHistoryBatch(before: cutoff, limit: 500)),
            ]
            for (index, query) in plans {
                let plan = try await store.write { connection, logger in
                    try await connection.query("SET LOCAL enable_seqscan = off", logger: logger)
                    let lines = try await connection.query(PostgresQuery(unsafeSQL: "EXPLAIN " + query.sql, binds: query.binds), logger: logger)
                        .collect().map { try $0.decode(String.self) }
                    return (lines.joined(separator: "\n"), [])
                }
                #expect(plan.contains(index), "\(plan)")
            }
        }
    }

    @Test("CLASSIFIER_RETENTION_DAYS: 0 keeps everything, 30…3650 days, anything else refused naming the variable")
    func setting() async throws {
        #expect(try await ClassifierSettingsTests.load([:]).retention.retention == .seconds(90 * 86_400))
        #expect(try await ClassifierSettingsTests.load(["CLASSIFIER_RETENTION_DAYS": "0"]).retention.retention == nil)
        #expect(try await ClassifierSettingsTests.load(["CLASSIFIER_RETENTION_DAYS": "45"]).retention.retention == .seconds(45 * 86_400))
        for bad in ["7", "29", "90d", "-1", "3651"] {
            let refusal = await ClassifierSettingsTests.refusal(["CLASSIFIER_RETENTION_DAYS": bad])
            #expect(refusal?.contains("CLASSIFIER_RETENTION_DAYS") == true, "\(bad): \(refusal ?? "accepted")")
        }
    }
}
