@testable import ComplaintMetrics
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// Metrics' guest lock lives in a key space named after its schema (``FactRecorder/guestLockSpace``), and
/// ``SubjectLock`` takes several keys in the order of their hashes.
@Suite("Metrics guest locks", .timeLimit(.minutes(2)))
struct GuestLockTests {
    @Test("a recorder on another schema (a rebuild) records a guest's complaint while the live schema's transaction holds that guest's lock")
    func rebuildDoesNotWaitOnLive() async throws {
        try await withMigratedSchema(of: RedressService.metrics.isolated()) { live, _ in
            try await withMigratedSchema(of: RedressService.metrics.isolated()) { rebuild, client in
                var event = try EventFixtures.received()
                event.data.guest.isVIP = false
                let first = event
                var second = try EventFixtures.received()
                second.data.guest.guestKey = event.data.guest.guestKey
                second.data.hotelID = event.data.hotelID
                let copy = second
                #expect(first.data.guest.guestKey != nil)
                let liveRecorder = FactRecorder(schema: live.schema.rawValue)
                let rebuildRecorder = FactRecorder(schema: rebuild.schema.rawValue)
                #expect(liveRecorder.guestLockSpace != rebuildRecorder.guestLockSpace)

                let (holding, holdingNow) = AsyncStream<Void>.makeStream()
                let (release, releaseNow) = AsyncStream<Void>.makeStream()
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    defer { releaseNow.yield() }
                    // The live service records the guest's complaint and keeps its transaction (and the guest's lock) open.
                    tasks.addTask {
                        try await live.write { connection, logger in
                            try await liveRecorder.received(first, on: connection, logger: logger)
                            holdingNow.yield()
                            for await _ in release { break }
                            return ((), [])
                        }
                    }
                    for await _ in holding { break }
                    // The rebuild records the same guest's other complaint; waiting for the live lock fails after 5 s.
                    try await rebuild.write { connection, logger in
                        try await connection.query("SET LOCAL lock_timeout = '5s'", logger: logger)
                        try await rebuildRecorder.received(copy, on: connection, logger: logger)
                        return ((), [])
                    }
                    releaseNow.yield()
                    try await tasks.waitForAll()
                }
                #expect(try await client.scalar(
                    "SELECT count(*)::int FROM \(unescaped: rebuild.schema.rawValue).complaints", as: Int.self) == 1)
            }
        }
    }

    @Test("SubjectLock takes the keys in the order of their hashes, not in the order given")
    func hashedOrder() async throws {
        try await withTestClient { client in
            let space = "redress.test.subject-lock:" + UUID().uuidString
            // Two subjects, `low` hashing below `high`.
            let subjects = ["guest-a-\(UUID())", "guest-b-\(UUID())"]
            var hashes: [String: Int32] = [:]
            for subject in subjects {
                hashes[subject] = try await client.scalar("SELECT hashtext(\(subject))", as: Int32.self)
            }
            let sorted = subjects.sorted { hashes[$0]! < hashes[$1]! }
            let (low, high) = (sorted[0], sorted[1])

            let (holding, holdingNow) = AsyncStream<Void>.makeStream()
            let (release, releaseNow) = AsyncStream<Void>.makeStream()
            let (waiterPID, waiterPIDNow) = AsyncStream<Int32>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                defer { releaseNow.yield() }
                // One transaction holds `high`.
                tasks.addTask {
                    try await client.withTransaction(logger: .complaintTest) { connection in
                        try await SubjectLock.acquire([high], keySpace: space, on: connection, logger: .complaintTest)
                        holdingNow.yield()
                        for await _ in release { break }
                    }
                }
                for await _ in holding { break }
                // Another asks for [high, low] (high first): it must take `low` before waiting on `high`.
                tasks.addTask {
                    try await client.withTransaction(logger: .complaintTest) { connection in
                        let pid = try await connection.query("SELECT pg_backend_pid()", logger: .complaintTest).collect().first!.decode(Int32.self)
                        waiterPIDNow.yield(pid)
                        try await SubjectLock.acquire([high, low, high], keySpace: space, on: connection, logger: .complaintTest)
                    }
                }
                var pid: Int32 = 0
                for await value in waiterPID { pid = value; break }
                let waiter = pid
                let waiting = await eventually(timeout: .seconds(20)) {
                    let rows = try? await client.query(
                        "SELECT count(*)::int FROM pg_locks WHERE pid = \(waiter) AND locktype = 'advisory' AND NOT granted",
                        logger: .complaintTest).collect()
                    return (try? rows?.first?.decode(Int.self)) == 1
                }
                #expect(waiting, "the second transaction never waited")
                let lowHeld = try await client.scalar(
                    """
                    SELECT count(*)::int FROM pg_locks WHERE pid = \(waiter) AND locktype = 'advisory' AND granted
                      AND classid = hashtext(\(space))::oid AND objid = hashtext(\(low))::oid AND objsubid = 2
                    """, as: Int.self)
                #expect(lowHeld == 1, "the waiting transaction did not take the lower-hashed key first")
                releaseNow.yield()
                try await tasks.waitForAll()
            }
        }
    }
}
