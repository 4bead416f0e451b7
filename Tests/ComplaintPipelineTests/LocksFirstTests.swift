import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import Synchronization
import Testing

/// Inputs whose handlers lock rows beyond their events' complaints declare the keys
/// (``TransactionLocks``): a shared transaction takes all of them first. And a shared transaction
/// rolled back does not make its events' preparations (outside calls) again.
@Suite("Locks taken first, preparations kept", .timeLimit(.minutes(3)))
struct LocksFirstTests {
    /// The keys an event of the test locks: two of five, the same for the event whatever is asked.
    static func keys(of event: EventEnvelope<ComplaintReceived>) -> [String] {
        let hash = event.data.complaintID.uuid.0
        return ["k\(hash % 5)", "k\((hash / 5) % 5)"]
    }

    @Test("a shared transaction takes its new events' keys first, once, sorted and distinct")
    func keysFirst() async throws {
        try await PipelineWorld.with { world in
            let events = try (0..<16).map { _ in try EventFixtures.received() }
            try await world.publish(events, partition: 0)
            let keysOfEvent = Dictionary(uniqueKeysWithValues: events.map { ($0.id, Self.keys(of: $0)) })
            let acquired = Mutex<[[String]]>([])
            let taken = Mutex<[UUID: Int]>([:])
            var handler = world.handler
            let hold = SharedTransactionTests.holdingTheFirst()
            handler.beforeApplying = { event, context in
                // The handler's own lock, in the transaction: the keys must be held already when shared.
                let count = acquired.withLock { $0.count }
                taken.withLock { $0[event.id] = count }
                try await hold(event, context)
            }
            let locks = TransactionLocks<ComplaintReceived>(keys: { Self.keys(of: $0) }) { keys, _, _ in
                acquired.withLock { $0.append(keys) }
            }
            let stage = try world.stage(input: StageInput(world.input, handler, lockingFirst: locks))
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                let processed = try await eventually { try await world.processedCount == 16 }
                #expect(processed)
            }
            let calls = acquired.withLock { $0 }
            #expect(!calls.isEmpty, "no shared transaction")
            #expect(calls.allSatisfy { $0 == Array(Set($0)).sorted() }, "\(calls)")
            #expect(calls.contains { $0.count > 2 }, "some transaction took several events' keys at once: \(calls)")
            // Every event's keys were among those taken before its handler ran, or it ran alone.
            let transactions = try await SharedTransactionTests.transactions(in: world, of: events)
            let sizes = Dictionary(grouping: transactions, by: { $0 }).mapValues(\.count)
            for (event, transaction) in zip(events, transactions) where sizes[transaction, default: 0] > 1 {
                let before = taken.withLock { $0[event.id] } ?? 0
                #expect(before > 0 && Set(keysOfEvent[event.id]!).isSubset(of: Set(calls[before - 1])))
            }
        }
    }

    @Test("a shared transaction rolled back: its events applied one at a time with their preparations, none prepared again")
    func preparationsKept() async throws {
        try await PipelineWorld.with { world in
            let events = try (0..<12).map { _ in try EventFixtures.received() }
            let failing = events[6].id
            try await world.publish(events, partition: 0)
            var recording = world.handler
            let hold = SharedTransactionTests.holdingTheFirst()
            let failed = Mutex(false)
            recording.beforeApplying = { event, context in
                try await hold(event, context)
                // Fails once (a passing fault): the shared transaction holding it is rolled back.
                if event.id == failing, !failed.withLock({ let was = $0; $0 = true; return was }) {
                    throw PassingFault()
                }
            }
            let preparations = Mutex<[UUID: Int]>([:])
            let handler = CountingPreparations(recording: recording) { event in preparations.withLock { $0[event.id, default: 0] += 1 } }
            let fellBack = Mutex<[[Int64]]>([])
            var hooks = EventPipelineService.CrashPoints()
            hooks.fellBack = { origins in fellBack.withLock { $0.append(origins.map(\.offset)) } }
            let stage = try world.stage(input: StageInput(world.input, preparing: handler), crashPoints: hooks)
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                let processed = try await eventually { try await world.processedCount == 12 }
                #expect(processed)
            }
            // The shared attempt holding the failure really fell back …
            #expect(fellBack.withLock { $0 }.count == 1 && fellBack.withLock { $0 }.first?.contains(6) == true)
            // … and no event was prepared twice; each applied once.
            let counts = preparations.withLock { $0 }
            for event in events {
                #expect(counts[event.id] == 1, "event \(events.firstIndex { $0.id == event.id }!) prepared \(counts[event.id] ?? 0) times")
                #expect(try await world.effects(of: event.id) == 1)
            }
        }
    }
}

/// A failure that is neither permanent nor known to pass: retried.
private struct PassingFault: Error {}

/// ``RecordingHandler`` with a preparation that counts itself (an outside call's cost).
private struct CountingPreparations: PreparingEventHandler {
    let recording: RecordingHandler
    let counted: @Sendable (EventEnvelope<ComplaintReceived>) -> Void

    func prepare(_ event: EventEnvelope<ComplaintReceived>, context: PreparationContext) async throws -> Int {
        counted(event)
        return 1
    }

    func handle(_ event: EventEnvelope<ComplaintReceived>, prepared: Int, context: HandlerContext) async throws -> [OutgoingEvent] {
        try await recording.handle(event, context: context)
    }
}
