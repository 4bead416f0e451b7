import Access
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Intake
import NIOHTTP1
import PostgresNIO
import Testing

@Suite("Bad input answers problem+json with the exact field and rule", .timeLimit(.minutes(3)))
struct ProblemTests {
    @Test("400, 422, 415, 413, 401, 403, 404 and 429 with Retry-After")
    func statuses() async throws {
        try await IntakeHarness.run { harness in
            let staff = try await harness.key(.staff)
            func expectProblem(_ reply: IntakeHarness.Reply, _ status: Int, mentions: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
                #expect(reply.status == status, "\(reply.body)", sourceLocation: sourceLocation)
                #expect(reply.headers["content-type"] == "application/problem+json", sourceLocation: sourceLocation)
                #expect(reply.json["status"] as? Int == status, sourceLocation: sourceLocation)
                if let mentions { #expect(reply.body.contains(mentions), "\(reply.body)", sourceLocation: sourceLocation) }
            }

            expectProblem(try await harness.request(.POST, "/v1/complaints", key: staff, body: #"{"hotelId": "#), 400, mentions: "JSON")
            let badRoom = IntakeHarness.submission().replacingOccurrences(of: #""roomNumber":"1208""#, with: #""roomNumber":"12345678901234567""#)
            let invalid = try await harness.request(.POST, "/v1/complaints", key: staff, body: badRoom)
            expectProblem(invalid, 422, mentions: "guest.roomNumber")
            let errors = try #require(invalid.json["errors"] as? [[String: String]])
            #expect(errors.first?["field"] == "guest.roomNumber")
            #expect(errors.first?["rule"] == "longer than 16 characters")
            let missing = IntakeHarness.submission().replacingOccurrences(of: #""channel":"front_desk","#, with: "")
            expectProblem(try await harness.request(.POST, "/v1/complaints", key: staff, body: missing), 422, mentions: "channel")
            let nul = IntakeHarness.submission(text: #"空调\u0000坏了"#)
            let nulReply = try await harness.request(.POST, "/v1/complaints", key: staff, body: nul)
            expectProblem(nulReply, 422, mentions: "NUL")
            #expect((nulReply.json["errors"] as? [[String: String]])?.first?["field"] == "text")
            let badChannel = IntakeHarness.submission(channel: "carrier_pigeon")
            expectProblem(try await harness.request(.POST, "/v1/complaints", key: staff, body: badChannel), 422, mentions: "channel")
            expectProblem(
                try await harness.request(.POST, "/v1/complaints", key: staff, body: IntakeHarness.submission(), contentType: "text/plain"),
                415, mentions: "application/json")
            // A Content-Type without a media type is a 415 too, not a crash.
            for odd in [";", ";charset=utf-8", " "] {
                expectProblem(
                    try await harness.request(.POST, "/v1/complaints", key: staff, body: IntakeHarness.submission(), contentType: odd),
                    415, mentions: "application/json")
            }
            let huge = IntakeHarness.submission(text: String(repeating: "空调坏了", count: 3000))
            expectProblem(try await harness.request(.POST, "/v1/complaints", key: staff, body: huge), 413)
            // The same body sent chunked (no Content-Length): still 413 problem+json, not a 500.
            expectProblem(try await chunkedRequest(.POST, harness.base + "/v1/complaints", key: staff, body: huge), 413, mentions: "bytes")
            let (_, someID) = try await harness.submit(IntakeHarness.submission())
            let hugeNote = #"{"text":""# + String(repeating: "x", count: 64 * 1024) + #"","visibility":"internal"}"#
            expectProblem(try await chunkedRequest(.POST, harness.base + "/v1/complaints/\(someID)/notes", key: staff, body: hugeNote), 413)
            expectProblem(try await harness.request(.POST, "/v1/complaints", key: nil, body: IntakeHarness.submission()), 401)
            let unknown = try await harness.request(.GET, "/v1/complaints", key: "rdk_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            expectProblem(unknown, 401)
            #expect(unknown.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
            expectProblem(try await harness.request(.GET, "/v1/complaints", key: "not-a-key"), 401)

            let publisher = try await harness.key(.publisher)
            expectProblem(try await harness.request(.GET, "/v1/complaints", key: publisher), 403)
            expectProblem(try await harness.request(.GET, "/v1/complaints/\(UUID().uuidString.lowercased())", key: staff), 404)
            expectProblem(try await harness.request(.GET, "/v1/complaints/not-a-uuid", key: staff), 404)
            expectProblem(try await harness.request(.GET, "/v1/complaints?status=lost", key: staff), 422, mentions: "query.status")
            expectProblem(try await harness.request(.GET, "/v1/complaints?limit=0", key: staff), 422, mentions: "query.limit")

            let slow = try await harness.key(.staff, rate: 1)
            var statuses: [Int] = []
            var retryAfter: String?
            for _ in 0..<4 {
                let reply = try await harness.request(.GET, "/v1/complaints", key: slow)
                statuses.append(reply.status)
                if reply.status == 429 {
                    expectProblem(reply, 429)
                    retryAfter = reply.headers["retry-after"]
                }
            }
            #expect(statuses.prefix(2) == [200, 200])
            #expect(statuses.contains(429))
            #expect(retryAfter.flatMap(Int.init).map { $0 >= 1 } == true)
        }
    }

    /// Made-up keys cost a database query each (the cache only knows keys it has seen): a flood of them
    /// filled the pool the event pipeline shares, until every request answered 503. Lookups of keys
    /// nobody has seen are now limited per process; a key found valid before is looked up again when its
    /// entry expires (here at once) without counting against the limit, so the flood cannot shut it out.
    /// With no cache at all (`ACCESS_KEY_CACHE_SECONDS=0`, set to make revocation immediate) the limit
    /// was skipped: every made-up key cost a query again.
    @Test("a flood of made-up keys is held back at the lookup limit, cache or no cache; a known key still gets in",
          arguments: [Duration.milliseconds(1), .zero])
    func madeUpKeys(cacheLifetime: Duration) async throws {
        try await IntakeHarness.run(access: { $0.keyCacheLifetime = cacheLifetime; $0.keyLookupsPerSecond = 5 }) { harness in
            let staff = try await harness.key(.staff)
            #expect(try await harness.request(.GET, "/v1/complaints", key: staff).status == 200)
            var statuses: [Int] = []
            for index in 0..<30 {
                let madeUp = "rdk_flood\(index)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
                statuses.append(try await harness.request(.GET, "/v1/complaints", key: madeUp).status)
            }
            #expect(statuses.contains(401), "looked up while the bucket lasts")
            #expect(statuses.contains(429), "then held back: \(statuses)")
            #expect(Set(statuses) == [401, 429])
            #expect(try await harness.request(.GET, "/v1/complaints", key: staff).status == 200, "a known key is looked up again, not held back")
        }
    }

    /// Review L5: right after a start the cache is empty, so a flood of made-up keys drained the lookup
    /// limit and a real key this process had not checked yet answered 429 until one request got through.
    /// The store now reads the active keys (id and secret digest) at the first lookup and every
    /// `activeKeysRefresh`: such a key is no made-up one, and its lookup does not count. A made-up secret
    /// for a real key's id (ids are not secret) still counts, and a revoked key is still refused at once.
    @Test("after a start, a flood of made-up keys does not shut out a real key this process has not seen yet",
          arguments: [Duration.seconds(10), .zero])
    func floodAfterStart(cacheLifetime: Duration) async throws {
        try await IntakeHarness.run(access: { $0.keyCacheLifetime = cacheLifetime; $0.keyLookupsPerSecond = 1 }) { harness in
            // Created before the flood, through another store: the service's own has never checked them.
            let staff = try #require(APIKeySecret(parsing: Substring(try await harness.key(.staff))))
            let publisher = try await harness.key(.publisher)
            func madeUp(id: String? = nil) -> String {
                let secret = UUID().uuidString.replacingOccurrences(of: "-", with: "")
                return "rdk_\(id ?? "flood" + secret.prefix(8))_\(secret)"
            }
            // The flood, until the limit holds it back; a real key's id with a made-up secret counts too.
            var statuses: [Int] = []
            for index in 0..<20 {
                statuses.append(try await harness.request(.GET, "/v1/complaints", key: madeUp(id: index.isMultiple(of: 2) ? staff.id : nil)).status)
                if statuses.last == 429 { break }
            }
            #expect(Set(statuses) == [401, 429], "\(statuses)")
            #expect(statuses.last == 429, "\(statuses)")
            // At once, the bucket still empty: the real keys, never checked by this process, get in.
            #expect(try await harness.request(.GET, "/v1/complaints", key: staff.description).status == 200)
            #expect(try await harness.request(.GET, "/v1/complaints", key: madeUp(id: staff.id)).status == 429, "a known id alone is no pass")
            #expect(try await harness.request(.POST, "/v1/complaints", key: publisher, body: IntakeHarness.submission()).status == 201)
            // Revoked: refused as soon as the cache lets it be (here at once, or within its lifetime).
            #expect(try await harness.keys.revoke(id: staff.id, client: harness.client, logger: .complaintTest))
            if cacheLifetime == .zero {
                #expect(try await harness.request(.GET, "/v1/complaints", key: staff.description).status == 401)
            }
        }
    }

    @Test("an unreachable database answers 503 with Retry-After, never a bare 500")
    func databaseDown() async throws {
        // A client whose server is not there: a port nothing listens on.
        let configuration = try DatabaseConfiguration(url: "postgres://redress:secret@127.0.0.1:1/redress")
        let client = PostgresClient(configuration: configuration.makeClientConfiguration(), backgroundLogger: .complaintTest)
        let intake = IntakeConfiguration(guestKeySecret: "test-guest-key-secret-0123456789")
        let api = IntakeAPI.standalone(intake, client: client, schema: "intake", databaseTimeout: .seconds(1))
        try await withHTTPServer(api) { base in
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                let reply = try await plainRequest(.POST, base + "/v1/complaints", key: "rdk_abcdefghij_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", body: IntakeHarness.submission())
                #expect(reply.status == 503)
                #expect(reply.headers["content-type"] == "application/problem+json")
                #expect(reply.headers["retry-after"] == "5")
                // The next request does not wait for the database again: the guard answers at once.
                let next = try await plainRequest(.GET, base + "/v1/complaints", key: "rdk_abcdefghij_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                #expect(next.status == 503)
                #expect(next.headers["retry-after"] == "2", "answered by the open guard, not after another deadline")
                group.cancelAll()
            }
        }
    }
}
