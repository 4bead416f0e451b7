import Access
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Intake
import NIOHTTP1
import PostgresNIO
import Testing

/// `idempotency_keys` is kept to the window in which a retry is recognised, instead of growing for ever.
@Suite("Idempotency key retention", .timeLimit(.minutes(3)))
struct IdempotencyKeyRetentionTests {
    @Test("keys older than the retention go in batches, newer ones stay; a submission retried after the window is still registered once")
    func purge() async throws {
        try await IntakeHarness.run { harness in
            let staff = try await harness.key(.staff)
            let externalID = "RET-\(UUID().uuidString.prefix(8))"
            let body = IntakeHarness.submission(externalID: externalID)
            let created = try await harness.request(.POST, "/v1/complaints", key: harness.admin, body: body, headers: [("Idempotency-Key", "ret-1")])
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            for index in 0..<5 {
                let reply = try await harness.request(
                    .POST, "/v1/complaints/\(id)/notes", key: staff, body: #"{"text":"note \#(index)","visibility":"internal"}"#,
                    headers: [("Idempotency-Key", "note-\(index)")])
                #expect(reply.status == 200)
            }
            let table = "\(harness.schema).idempotency_keys"
            func count() async throws -> Int {
                try await harness.client.query("SELECT count(*)::int FROM \(unescaped: table)", logger: .complaintTest).collect().first?.decode(Int.self) ?? -1
            }
            #expect(try await count() == 6)

            var configuration = IdempotencyKeyPurge.Configuration()
            configuration.batchSize = 2
            let store = StageStore(client: harness.client, schema: harness.schema, logger: .complaintTest)
            let purge = IdempotencyKeyPurge(store: store, configuration: configuration, logger: .complaintTest)
            // Within the window nothing goes.
            #expect(try await purge.purgeOnce(now: Date().addingTimeInterval(29 * 86_400)) == 0)
            #expect(try await count() == 6)
            // Past it, everything, two at a time.
            #expect(try await purge.purgeOnce(now: Date().addingTimeInterval(31 * 86_400)) == 6)
            #expect(try await count() == 0)

            // The key is forgotten, the complaint is not: the same submission is still a replay.
            let late = try await harness.request(.POST, "/v1/complaints", key: harness.admin, body: body, headers: [("Idempotency-Key", "ret-1")])
            #expect(late.status == 200)
            #expect(late.json["id"] as? String == id)
            #expect(try await harness.complaintCount(externalID: externalID) == 1)
        }
    }

    /// The purge deleting a key between a retry's conflicting insert and its read answered a bare 500.
    @Test("a key the purge deletes between a retry's insert and its read: the request is run again and answered, not a 500")
    func keyPurgedMidRequest() async throws {
        try await IntakeHarness.run { harness in
            let externalID = "VAN-\(UUID().uuidString.prefix(8))"
            let body = IntakeHarness.submission(externalID: externalID)
            let created = try await harness.request(.POST, "/v1/complaints", key: harness.admin, body: body, headers: [("Idempotency-Key", "van-1")])
            #expect(created.status == 201)
            // Stands in for the purge committing at that moment: the first insert into idempotency_keys from
            // now on (a sequence counts them, whatever rolls back) is followed by the deletion of key van-1.
            for statement in [
                "CREATE SEQUENCE \(harness.schema).vanish_inserts",
                """
                CREATE FUNCTION \(harness.schema).vanish_key() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF nextval('\(harness.schema).vanish_inserts') = 1 THEN
                        DELETE FROM \(harness.schema).idempotency_keys WHERE idempotency_key = 'van-1';
                    END IF;
                    RETURN NULL;
                END $$
                """,
                """
                CREATE TRIGGER vanish_key AFTER INSERT ON \(harness.schema).idempotency_keys
                    FOR EACH STATEMENT EXECUTE FUNCTION \(harness.schema).vanish_key()
                """,
            ] {
                try await harness.client.query(PostgresQuery(unsafeSQL: statement), logger: .complaintTest)
            }
            let retried = try await harness.request(.POST, "/v1/complaints", key: harness.admin, body: body, headers: [("Idempotency-Key", "van-1")])
            #expect(retried.status == 200, "a replay of the registered complaint: \(retried.status) \(retried.json)")
            #expect(retried.json["id"] as? String == created.json["id"] as? String)
            #expect(try await harness.complaintCount(externalID: externalID) == 1)
            let inserts = try await harness.client.query(
                PostgresQuery(unsafeSQL: "SELECT last_value FROM \(harness.schema).vanish_inserts"), logger: .complaintTest
            ).collect().first?.decode(Int.self)
            #expect(inserts == 2, "the key vanished under the first run, the second found it")
        }
    }

    @Test("INTAKE_IDEMPOTENCY_KEY_DAYS sets the window; 0 keeps keys for ever; nonsense names the variable")
    func configuration() async throws {
        let base = ["REDRESS_GUEST_KEY_SECRET": "test-guest-key-secret-0123456789"]
        #expect(try await IntakeConfiguration.load(environment: base).idempotencyKeys.retention == .seconds(30 * 86_400))
        #expect(try await IntakeConfiguration.load(environment: base.merging(["INTAKE_IDEMPOTENCY_KEY_DAYS": "7"]) { $1 })
            .idempotencyKeys.retention == .seconds(7 * 86_400))
        #expect(try await IntakeConfiguration.load(environment: base.merging(["INTAKE_IDEMPOTENCY_KEY_DAYS": "0"]) { $1 })
            .idempotencyKeys.retention == nil)
        await #expect { try await IntakeConfiguration.load(environment: base.merging(["INTAKE_IDEMPOTENCY_KEY_DAYS": "soon"]) { $1 }) } throws: {
            "\($0)".contains("INTAKE_IDEMPOTENCY_KEY_DAYS")
        }
    }

    /// `INTAKE_MAX_BODY_BYTES=64k` started intake with the 32 KiB default, without a word.
    @Test("INTAKE_MAX_BODY_BYTES that is not a whole number refuses to start, naming the variable")
    func bodySizeSetting() async throws {
        let base = ["REDRESS_GUEST_KEY_SECRET": "test-guest-key-secret-0123456789"]
        #expect(try await IntakeConfiguration.load(environment: base.merging(["INTAKE_MAX_BODY_BYTES": "65536"]) { $1 }).maximumBodySize == 65_536)
        await #expect { try await IntakeConfiguration.load(environment: base.merging(["INTAKE_MAX_BODY_BYTES": "64k"]) { $1 }) } throws: {
            "\($0)".contains("INTAKE_MAX_BODY_BYTES") && "\($0)".contains("64k")
        }
    }
}
