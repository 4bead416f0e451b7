import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// Two complaints of one guest on different partitions can be classified at the same moment (a
/// backlog after an outage is read that way); the repeat rules must still see the first.
@Suite("Repeat complaints classified at the same moment", .timeLimit(.minutes(2)))
struct GuestHistoryLockTests {
    static func classify(
        _ event: EventEnvelope<ComplaintReceived>, handler: ClassifierHandler, store: StageStore, schema: SchemaName,
        beforeCommit: @Sendable () async -> Void = {}
    ) async throws -> ComplaintClassified {
        let events = try await handleDirectly(event, with: handler, store: store, schema: schema, beforeCommit: beforeCommit)
        let row = try #require(events.first).row
        return try Topics.classified.decode(Array(row.value.readableBytesView)).data
    }

    @Test("the second complaint, classified while the first's transaction is still open, waits for it and is a repeat")
    func secondWaitsForFirst() async throws {
        let service = RedressService.classifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let handler = ClassifierHandler(engine: Repository.engine)
            var first = try EventFixtures.received()
            first.data.text = "空调不制冷，房间里闷热得睡不着"
            first.data.guest.isVIP = false
            var second = try EventFixtures.received()
            second.data.text = "Loud music from the room next door until 3am"
            second.data.guest.isVIP = false
            second.data.registeredAt = first.data.registeredAt.addingTimeInterval(120)
            let guestKey = try #require(first.data.guest.guestKey)
            let (firstEvent, secondEvent) = (first, second)
            #expect(second.data.guest.guestKey == guestKey && second.data.hotelID == first.data.hotelID)

            let (handled, handledNow) = AsyncStream<Void>.makeStream()
            let (release, releaseNow) = AsyncStream<Void>.makeStream()
            try await withThrowingTaskGroup(of: (Int, ComplaintClassified).self) { tasks in
                // The first is classified and recorded, then its transaction stays open until released.
                tasks.addTask {
                    let classified = try await Self.classify(firstEvent, handler: handler, store: store, schema: service.schema) {
                        handledNow.yield()
                        for await _ in release { break }
                    }
                    return (1, classified)
                }
                for await _ in handled { break }
                let secondDone = Flag()
                tasks.addTask {
                    let classified = try await Self.classify(secondEvent, handler: handler, store: store, schema: service.schema)
                    secondDone.set()
                    return (2, classified)
                }
                // The second waits on the guest's lock (its key space, its subject) rather than reading a history without the first.
                let waiting = await eventually(timeout: .seconds(20)) {
                    let rows = try? await client.query(
                        """
                        SELECT count(*)::int FROM pg_locks
                        WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2
                          AND classid = hashtext('redress.classifier.guest')::oid AND objid = hashtext(\(first.data.hotelID + "|" + guestKey))::oid
                        """, logger: .complaintTest).collect()
                    return (try? rows?.first?.decode(Int.self)) == 1 || secondDone.isSet
                }
                #expect(waiting && !secondDone.isSet, "the second complaint did not wait for the first's transaction")
                releaseNow.yield()
                var results: [Int: ComplaintClassified] = [:]
                for try await (index, classified) in tasks { results[index] = classified }
                #expect(results[1]?.flags.isRepeat == false)
                #expect(results[2]?.flags.isRepeat == true, "the second complaint of the guest was not read as a repeat")
                #expect(results[2]?.severity != .minor)
            }
        }
    }
}

/// Set once, read from any task.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
