import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Prometheus
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
            let first = try EventFixtures.received(text: "空调不制冷，房间里闷热得睡不着")
            var second = try EventFixtures.received(text: "Loud music from the room next door until 3am")
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
                          AND classid = hashtext(\(ClassificationStore.guestLockSpace + service.schema.rawValue))::oid AND objid = hashtext(\(first.data.hotelID + "|" + guestKey))::oid
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

/// A replay (into a schema of its own) and the live service take their guest locks in different key
/// spaces, and the stage's shared transactions take their guests' locks first, since its handler locks
/// another complaint's guest.
@Suite("Guest locks per schema, taken first by shared transactions", .timeLimit(.minutes(2)))
struct GuestLockIsolationTests {
    @Test("a guest lock held in one schema does not hold up the same guest's classification in another")
    func replayDoesNotBlockLive() async throws {
        let live = RedressService.classifier.isolated()
        let replay = RedressService.classifier.isolated()
        try await withMigratedSchema(of: live) { liveStore, client in
            try await withMigratedSchema(of: replay) { replayStore, _ in
                let event = try EventFixtures.received()
                let guestKey = try #require(event.data.guest.guestKey)
                let visit = GuestVisit(
                    guestKey: guestKey, hotelID: event.data.hotelID, reservationReference: event.data.guest.reservationReference,
                    complaintID: event.data.complaintID, registeredAt: event.data.registeredAt)
                let store = ClassificationStore()
                let (held, heldNow) = AsyncStream<Void>.makeStream()
                let (release, releaseNow) = AsyncStream<Void>.makeStream()
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    // The replay holds the guest's lock in an open transaction.
                    tasks.addTask {
                        try await replayStore.write { connection, logger in
                            try await store.lockGuest(of: visit, on: connection, logger: logger)
                            heldNow.yield()
                            for await _ in release { break }
                            return ((), [])
                        }
                    }
                    for await _ in held { break }
                    // Its lock is in the replay schema's key space …
                    let replayLocks = try await client.scalar(
                        """
                        SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
                          AND classid = hashtext(\(ClassificationStore.guestLockSpace + replay.schema.rawValue))::oid
                          AND objid = hashtext(\(event.data.hotelID + "|" + guestKey))::oid
                        """, as: Int.self)
                    #expect(replayLocks == 1)
                    // … so the live service takes the same guest's lock at once (a wait would end in the lock timeout).
                    try await liveStore.write { connection, logger in
                        try await connection.query("SET LOCAL lock_timeout = '10s'", logger: logger)
                        try await store.lockGuest(of: visit, on: connection, logger: logger)
                        return ((), [])
                    }
                    releaseNow.yield()
                    try await tasks.waitForAll()
                }
            }
        }
    }

    @Test("the service's and a replay's input share transactions, taking their guests' locks first")
    func guestLocksFirst() throws {
        let settings = ServiceSettings.forTests(kafkaBrokers: ["127.0.0.1:9"], databaseURL: "postgres://nobody@127.0.0.1:9/none")
        let runtime = try ClassifierService.makeRuntime(
            settings: settings, configuration: Repository.configuration(), registry: PrometheusCollectorRegistry(),
            logger: Logger(label: "classifier-tests"))
        #expect(runtime.inputs.count == 1)
        #expect(runtime.inputs.allSatisfy { $0.sharesTransactions && $0.takesLocksFirst })
        let replayInput = ClassifierService.input(Topics.received, ClassifierHandler(engine: Repository.engine))
        #expect(replayInput.sharesTransactions && replayInput.takesLocksFirst)
    }

    @Test("the keys taken first are the subjects the handler locks: the guest at the complaint's hotel, none without a guest key")
    func lockKeys() throws {
        var event = try EventFixtures.received()
        let guestKey = try #require(event.data.guest.guestKey)
        #expect(ClassifierHandler.guestLocks.keys(event) == [event.data.hotelID + "|" + guestKey])
        #expect(GuestVisit(of: event.data)?.lockSubject == event.data.hotelID + "|" + guestKey)
        event.data.guest.guestKey = nil
        #expect(ClassifierHandler.guestLocks.keys(event).isEmpty)
    }

    @Test("several guests locked at once, each once, and again at once in the same transaction")
    func severalGuests() async throws {
        let service = RedressService.classifier.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let subjects = ["HOTEL-1|guest-c", "HOTEL-1|guest-a", "HOTEL-2|guest-b", "HOTEL-1|guest-a"]
            let held = try await store.write { connection, logger in
                try await ClassificationStore().lockGuests(subjects, on: connection, logger: logger)
                // Taken again (as the handler does): at once, the same locks.
                try await ClassificationStore().lockGuests(subjects.reversed(), on: connection, logger: logger)
                let rows = try await connection.query(
                    """
                    SELECT count(*)::int FROM pg_locks
                    WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND pid = pg_backend_pid()
                      AND classid = hashtext(\(ClassificationStore.guestLockSpace + service.schema.rawValue))::oid
                    """, logger: logger).collect()
                return (try rows[0].decode(Int.self), [])
            }
            #expect(held == 3)
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
