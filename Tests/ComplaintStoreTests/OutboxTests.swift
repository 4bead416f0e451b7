import ComplaintStore
import ComplaintTesting
import Foundation
import NIOCore
import PostgresNIO
import Testing

@Suite(.timeLimit(.minutes(3)))
struct OutboxTests {
    struct PublishedRow: Sendable {
        var id: Int64
        var key: String
    }

    private static func row(_ key: String, _ payload: String, topic: String = "complaints.received.v1") -> OutboxRow {
        OutboxRow(topic: topic, aggregateKey: key, value: ByteBuffer(string: payload))
    }

    /// One relay round's claim, as the relay makes it: one statement, no transaction left open.
    private func claim(_ outbox: Outbox, _ client: PostgresClient, limit: Int, lease: Duration = .seconds(60)) async throws -> OutboxClaim {
        try await client.withConnection { try await outbox.claim(limit: limit, lease: lease, on: $0, logger: .test) }
    }

    /// Ends the leases on `ids` now (a relay that died), instead of sleeping past short ones.
    private func expireLeases(_ ids: [Int64], _ client: PostgresClient, _ tables: RuntimeTables) async throws {
        try await client.query(
            "UPDATE \(unescaped: tables.schema.rawValue).outbox SET claimed_until = clock_timestamp() - interval '1 second' WHERE id = ANY(\(ids))",
            logger: .test)
    }

    private func markSent(_ outbox: Outbox, _ client: PostgresClient, _ claim: OutboxClaim) async throws {
        try await client.withConnection { _ = try await outbox.markSent(ids: claim.records.map(\.id), on: $0, logger: .test) }
    }

    private func enqueue(_ rows: [OutboxRow], _ client: PostgresClient, _ outbox: Outbox) async throws -> [Int64] {
        try await client.transaction(logger: .test) { connection async throws in
            try await outbox.enqueue(rows, on: connection, logger: .test)
        }
    }

    @Test func enqueueClaimAndMarkSentRoundTrip() async throws {
        try await withRuntimeTables { client, tables async throws in
            let outbox = tables.outbox
            let headers = [
                OutboxHeader(key: "ce_type", value: "redress.complaint.received.v1"),
                OutboxHeader(key: "binary", value: ByteBuffer(bytes: [0xff, 0x00, 0xfe])),
                OutboxHeader(key: "empty", value: nil as ByteBuffer?),
                OutboxHeader(key: "ce_type", value: "repeated names are kept"),
            ]
            let keyed = OutboxRow(
                topic: "complaints.received.v1", aggregateKey: "c-1", value: ByteBuffer(bytes: [0, 1, 2, 255]),
                headers: headers)
            let unkeyed = OutboxRow(
                topic: "alerts.v1", aggregateKey: "c-2", key: nil, value: ByteBuffer(string: "{\"投诉\":true}"))
            let ids = try await self.enqueue([keyed, unkeyed], client, outbox)
            #expect(ids.count == 2)
            #expect(ids[0] < ids[1])

            let claim = try await self.claim(outbox, client, limit: 10)
            try await self.markSent(outbox, client, claim)
            let claimed = claim.records
            #expect(claimed.map(\.id) == ids)
            #expect(claimed[0].topic == "complaints.received.v1")
            #expect(claimed[0].aggregateKey == "c-1")
            #expect(claimed[0].key == ByteBuffer(string: "c-1"))
            #expect(claimed[0].value == ByteBuffer(bytes: [0, 1, 2, 255]))
            #expect(claimed[0].headers == headers)
            #expect(claimed[0].attempts == 0)
            #expect(abs(claimed[0].createdAt.timeIntervalSinceNow) < 60)
            #expect(claimed[1].key == nil)
            #expect(claimed[1].value == ByteBuffer(string: "{\"投诉\":true}"))
            #expect(claimed[1].headers.isEmpty)

            try await client.withConnection { connection async throws in
                #expect(try await outbox.claim(limit: 10, lease: .seconds(60), on: connection, logger: .test).records.isEmpty)
                #expect(try await outbox.backlog(on: connection, logger: .test) == OutboxBacklog(unsentCount: 0, oldestUnsentAt: nil))
                // Marking again changes nothing.
                #expect(try await outbox.markSent(ids: ids, on: connection, logger: .test) == 0)
            }
        }
    }

    @Test func rolledBackEnqueueLeavesNothing() async throws {
        struct Abort: Error {}
        try await withRuntimeTables { client, tables async throws in
            await #expect(throws: Abort.self) {
                try await client.transaction(logger: .test) { connection async throws in
                    try await tables.outbox.enqueue([Self.row("c-1", "x")], on: connection, logger: .test)
                    throw Abort()
                }
            }
            try await client.withConnection { connection async throws in
                #expect(try await tables.outbox.backlog(on: connection, logger: .test).unsentCount == 0)
            }
        }
    }

    @Test func concurrentClaimersNeverShareARow() async throws {
        try await withRuntimeTables { client, tables async throws in
            let outbox = tables.outbox
            let ids = try await self.enqueue((0..<30).map { Self.row("c-\($0)", "m\($0)") }, client, outbox)

            // A leases ten rows and then dies without marking them.
            let claimedByA = try await self.claim(outbox, client, limit: 10)
            #expect(claimedByA.records.map(\.id) == Array(ids[0..<10]))

            // While A's lease holds, B skips its rows instead of waiting.
            let claimedByB = try await self.claim(outbox, client, limit: 100)
            #expect(claimedByB.records.map(\.id) == Array(ids[10...]))
            #expect(try await self.claim(outbox, client, limit: 100).records.isEmpty)

            // A's lease runs out: its rows are claimable again, nothing is lost.
            try await self.expireLeases(claimedByA.records.map(\.id), client, tables)
            let again = try await self.claim(outbox, client, limit: 100)
            #expect(again.records.map(\.id) == Array(ids[0..<10]))
        }
    }

    @Test func claimingLeavesNoTransactionOpen() async throws {
        try await withRuntimeTables { client, tables async throws in
            _ = try await self.enqueue([Self.row("c-1", "x")], client, tables.outbox)
            try await client.withConnection { relay async throws in
                let pid = try await relay.query("SELECT pg_backend_pid()", logger: .test).collect()[0].decode(Int32.self)
                let claim = try await tables.outbox.claim(limit: 10, lease: .seconds(60), on: relay, logger: .test)
                #expect(claim.records.count == 1)
                // Seen from another connection while the relay would be publishing: idle, not "idle in transaction".
                let state = try await client.withConnection { observer async throws in
                    try await observer.query("SELECT state FROM pg_stat_activity WHERE pid = \(pid)", logger: .test)
                        .collect().first?.decode(String.self)
                }
                #expect(state == "idle")
            }
        }
    }

    @Test func laterRowsOfAKeyWaitForTheHeadClaimedElsewhere() async throws {
        try await withRuntimeTables { client, tables async throws in
            let outbox = tables.outbox
            let ids = try await self.enqueue(
                [Self.row("c-1", "first"), Self.row("c-1", "second"), Self.row("c-2", "other")], client, outbox)

            let claimedByA = try await self.claim(outbox, client, limit: 1)
            #expect(claimedByA.records.map(\.id) == [ids[0]])

            // B must not publish c-1's second row while its first is in flight with A.
            let claimedByB = try await self.claim(outbox, client, limit: 10)
            #expect(claimedByB.records.map(\.id) == [ids[2]])

            try await self.markSent(outbox, client, claimedByA)
            let next = try await self.claim(outbox, client, limit: 10)
            #expect(next.records.map(\.id) == [ids[1]], "c-2's row is still leased by B")
        }
    }

    @Test func aFailedHeadKeepsItsKeyWaiting() async throws {
        try await withRuntimeTables { client, tables async throws in
            let outbox = tables.outbox
            let ids = try await self.enqueue([Self.row("c-1", "first"), Self.row("c-1", "second")], client, outbox)

            let firstRound = try await self.claim(outbox, client, limit: 10)
            #expect(firstRound.records.map(\.id) == [ids[0]])
            try await client.withConnection { connection async throws in
                for record in firstRound.records {
                    try await outbox.release(id: record.id, error: "broker unavailable", claim: firstRound, on: connection, logger: .test)
                }
            }

            let secondRound = try await self.claim(outbox, client, limit: 10)
            try await self.markSent(outbox, client, secondRound)
            #expect(secondRound.records.map(\.id) == [ids[0]])
            #expect(secondRound.records.first?.attempts == 1)
            let lastError = try await client.scalar(
                "SELECT last_error FROM \(unescaped: tables.schema.rawValue).outbox WHERE id = \(ids[0])", as: String.self)
            #expect(lastError == "broker unavailable")

            let thirdRound = try await self.claim(outbox, client, limit: 10)
            #expect(thirdRound.records.map(\.id) == [ids[1]])
        }
    }

    @Test func aStaleClaimCannotReleaseARowLeasedAgain() async throws {
        try await withRuntimeTables { client, tables async throws in
            let outbox = tables.outbox
            let ids = try await self.enqueue([Self.row("c-1", "first")], client, outbox)
            let stale = try await self.claim(outbox, client, limit: 10)
            try await self.expireLeases(ids, client, tables)
            let current = try await self.claim(outbox, client, limit: 10)
            #expect(current.records.map(\.id) == ids)
            try await client.withConnection { connection async throws in
                try await outbox.release(id: ids[0], error: "late", claim: stale, on: connection, logger: .test)
            }
            #expect(try await self.claim(outbox, client, limit: 10).records.isEmpty, "the current lease still holds")
        }
    }

    @Test func rowsCommittedOutOfOrderAreNotSkipped() async throws {
        try await withRuntimeTables { client, tables async throws in
            let outbox = tables.outbox
            try await client.withConnection { slowWriter async throws in
                // The slow transaction takes the lower id but commits last.
                try await slowWriter.query("BEGIN", logger: .test)
                let slowIDs = try await outbox.enqueue([Self.row("c-slow", "late")], on: slowWriter, logger: .test)
                let fastIDs = try await self.enqueue([Self.row("c-fast", "early")], client, outbox)
                #expect(slowIDs[0] < fastIDs[0])

                let firstRound = try await self.claim(outbox, client, limit: 10)
                try await self.markSent(outbox, client, firstRound)
                #expect(firstRound.records.map(\.id) == fastIDs)

                try await slowWriter.query("COMMIT", logger: .test)

                // A cursor "id > last seen" would never return the slow row; the claim does.
                let secondRound = try await self.claim(outbox, client, limit: 10)
                try await self.markSent(outbox, client, secondRound)
                #expect(secondRound.records.map(\.id) == slowIDs)
            }
        }
    }

    /// Several relays drain a backlog concurrently; every row is published once, and each key's rows in order.
    @Test func concurrentRelaysPublishEachRowOnceInKeyOrder() async throws {
        try await withRuntimeTables { client, tables async throws in
            let outbox = tables.outbox
            let keys = (0..<12).map { "complaint-\($0)" }
            var enqueued: [Int64: String] = [:]
            for round in 0..<8 {
                // Interleave keys across transactions, as concurrent complaints would.
                let rows = keys.shuffled().map { Self.row($0, "event \(round)") }
                let ids = try await self.enqueue(rows, client, outbox)
                for (id, row) in zip(ids, rows) {
                    enqueued[id] = row.aggregateKey
                }
            }

            let published = LockedBox<[PublishedRow]>([])
            let configuration = try await TestDatabase.shared.configuration()
            try await withThrowingTaskGroup(of: Void.self) { group async throws in
                for _ in 0..<4 {
                    group.addTask {
                        try await withClient(configuration) { relayClient async throws in
                            var idleRounds = 0
                            while idleRounds < 3 {
                                let claim = try await relayClient.withConnection { connection async throws in
                                    try await outbox.claim(limit: 5, lease: .seconds(60), on: connection, logger: .test)
                                }
                                for record in claim.records {
                                    published.update { $0.append(PublishedRow(id: record.id, key: record.aggregateKey)) }
                                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...3)))
                                }
                                try await relayClient.withConnection { connection async throws in
                                    _ = try await outbox.markSent(ids: claim.records.map(\.id), on: connection, logger: .test)
                                }
                                let count = claim.records.count
                                if count == 0 {
                                    let remaining = try await relayClient.withConnection { connection async throws in
                                        try await outbox.backlog(on: connection, logger: .test).unsentCount
                                    }
                                    idleRounds = remaining == 0 ? idleRounds + 1 : 0
                                    try await Task.sleep(for: .milliseconds(5))
                                }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }

            let log = published.get()
            #expect(log.count == enqueued.count)
            #expect(Set(log.map(\.id)).count == enqueued.count, "a row was published twice")
            #expect(Set(log.map(\.id)) == Set(enqueued.keys))
            for key in keys {
                let order = log.filter { $0.key == key }.map(\.id)
                #expect(order == order.sorted(), "rows of \(key) were published out of order: \(order)")
            }
        }
    }

    @Test func notifiesListenersOnlyAfterCommit() async throws {
        try await withRuntimeTables { client, tables async throws in
            let outbox = tables.outbox
            #expect(outbox.notificationChannel == "\(tables.schema)_outbox")
            let received = LockedBox(0)
            let sentinels = LockedBox(0)
            // A notification of our own, sent after a point: PostgreSQL delivers notifications in commit
            // order, so once it arrives, every outbox notification committed before it has too.
            func sentinel() async throws -> Bool {
                let expected = sentinels.get() + 1
                try await client.query("SELECT pg_notify(\(outbox.notificationChannel), 'sentinel')", logger: .test)
                return await eventually(timeout: .seconds(30)) { sentinels.get() >= expected }
            }
            try await client.withNotifications(channel: outbox.notificationChannel, logger: .test) { notifications async throws in
                try await withThrowingTaskGroup(of: Void.self) { group async throws in
                    group.addTask {
                        for try await notification in notifications {
                            if notification.payload == "sentinel" { sentinels.update { $0 += 1 } } else { received.update { $0 += 1 } }
                        }
                    }

                    struct Abort: Error {}
                    try? await client.transaction(logger: .test) { connection async throws in
                        try await outbox.enqueue([Self.row("c-1", "rolled back")], on: connection, logger: .test)
                        throw Abort()
                    }

                    try await client.withConnection { writer async throws in
                        try await writer.query("BEGIN", logger: .test)
                        try await outbox.enqueue([Self.row("c-1", "a"), Self.row("c-2", "b")], on: writer, logger: .test)
                        #expect(try await sentinel())
                        #expect(received.get() == 0, "notified before commit")
                        try await writer.query("COMMIT", logger: .test)
                    }
                    #expect(try await sentinel())
                    // One committed transaction, one wake-up; the rolled-back one never notified.
                    #expect(received.get() == 1)
                    group.cancelAll()
                }
            }
        }
    }

    @Test func largeEnqueueIsChunked() async throws {
        try await withRuntimeTables { client, tables async throws in
            let rows = (0..<2_500).map { Self.row("c-\($0 % 50)", "payload \($0)") }
            let ids = try await self.enqueue(rows, client, tables.outbox)
            #expect(ids.count == 2_500)
            #expect(ids == ids.sorted())
            #expect(Set(ids).count == 2_500)
            try await client.withConnection { connection async throws in
                let backlog = try await tables.outbox.backlog(on: connection, logger: .test)
                #expect(backlog.unsentCount == 2_500)
                #expect(backlog.oldestUnsentAt != nil)
                // One head per key.
                #expect(try await tables.outbox.claim(limit: 1000, lease: .seconds(60), on: connection, logger: .test).records.count == 50)
            }
        }
    }

    @Test func purgeDeletesOldSentRowsOnly() async throws {
        try await withRuntimeTables { client, tables async throws in
            let outbox = tables.outbox
            let ids = try await self.enqueue([Self.row("a", "1"), Self.row("b", "2"), Self.row("c", "3")], client, outbox)
            try await client.transaction(logger: .test) { connection async throws in
                _ = try await outbox.markSent(ids: [ids[0], ids[1]], on: connection, logger: .test)
                try await connection.query(
                    "UPDATE \(unescaped: tables.schema.rawValue).outbox SET sent_at = now() - interval '10 days' WHERE id = \(ids[0])",
                    logger: .test)
            }
            try await client.withConnection { connection async throws in
                let purged = try await outbox.purge(sentBefore: Date().addingTimeInterval(-86_400), on: connection, logger: .test)
                #expect(purged == 1)
                let remaining = try await connection.query(
                    "SELECT id FROM \(unescaped: tables.schema.rawValue).outbox ORDER BY id", logger: .test
                ).collect().map { try $0.decode(Int64.self) }
                #expect(remaining == [ids[1], ids[2]])
            }
        }
    }
}
