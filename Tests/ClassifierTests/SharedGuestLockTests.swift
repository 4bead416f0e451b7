import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import RdKafka
import RdKafkaTestKit
import Synchronization
import Testing

/// Two partitions' lanes of the classifier, each applying a backlog of two complaints in one
/// transaction, of the same two guests in opposite orders: each shared transaction takes both guest
/// locks first, so neither waits on the other in a cycle (a deadlock PostgreSQL would end by rolling
/// one back, applied again one event at a time), and the repeat rules see what the other committed.
@Suite("Classifier transactions shared, guest locks first", .timeLimit(.minutes(3)))
struct SharedGuestLockTests {
    /// One round: two complaints on each partition, of two guests of the round's own, in opposite orders.
    final class Round: Sendable {
        let lane0: [EventEnvelope<ComplaintReceived>]
        let lane1: [EventEnvelope<ComplaintReceived>]
        /// Lane 0 applied its first complaint (its transaction still open).
        let lane0Applied = Latch()
        /// Lane 1 applied its first complaint.
        let lane1Applied = Latch()

        init(_ number: Int) throws {
            let start = Date(timeIntervalSince1970: 1_780_000_000 + Double(number) * 3600)
            func complaint(_ guestKey: String, at seconds: TimeInterval) throws -> EventEnvelope<ComplaintReceived> {
                var event = try EventFixtures.received()
                event.data.guest.guestKey = guestKey
                event.data.guest.reservationReference = "RES-\(number)-\(guestKey.prefix(1))"
                event.data.registeredAt = start.addingTimeInterval(seconds)
                return event
            }
            // Guest keys are HMACs: 64 hexadecimal digits.
            let (guestA, guestB) = (String(format: "a%063x", number), String(format: "b%063x", number))
            // Each registered after the same guest's complaint on partition 0.
            lane0 = [try complaint(guestA, at: 0), try complaint(guestB, at: 10)]
            lane1 = [try complaint(guestB, at: 20), try complaint(guestA, at: 30)]
        }
    }

    @Test("opposite guest orders on two partitions: no deadlock, no fallback, each prepared once, repeats counted")
    func oppositeOrders() async throws {
        let kafka = try KafkaTestEnvironment()
        let input = Topics.received.renamed(try await kafka.makeTopic(prefix: "received", partitions: 2))
        let output = Topics.classified.renamed(try await kafka.makeTopic(prefix: "classified", partitions: 1))
        let deadLetterTopic = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        let service = RedressService.classifier.isolated()
        try await withMigratedSchema(of: service) { _, client in
            // Lined up so that, taking guest locks event by event, each lane would hold its first guest
            // while the other asks for it: lane 1 prepares once lane 0 has applied its first complaint
            // (inside its transaction, still open), and lane 0 goes on once lane 1 has applied its first
            // too, or is waiting for a guest lock.
            let current = Mutex<Round?>(nil)
            let preparations = Mutex<[UUID: Int]>([:])
            var handler = HookedClassifier(inner: ClassifierHandler(engine: Repository.engine, outputTopic: output))
            handler.beforePreparing = { event in
                preparations.withLock { $0[event.id, default: 0] += 1 }
                guard let round = current.withLock({ $0 }) else { return }
                if event.id == round.lane1[0].id { await round.lane0Applied.wait() }
            }
            handler.afterHandling = { event in
                guard let round = current.withLock({ $0 }) else { return }
                if event.id == round.lane1[0].id { round.lane1Applied.fire() }
                guard event.id == round.lane0[0].id, !round.lane0Applied.isFired else { return }
                round.lane0Applied.fire()
                _ = await eventually(timeout: .seconds(30)) {
                    if round.lane1Applied.isFired { return true }
                    let waiting = try? await client.query(
                        """
                        SELECT count(*)::int FROM pg_locks
                        WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2
                          AND classid = hashtext(\(ClassificationStore.guestLockSpace + service.schema.rawValue))::oid
                        """, logger: .complaintTest).collect().first?.decode(Int.self)
                    return (waiting ?? 0) > 0
                }
            }
            let fellBack = Mutex<[[MessageOrigin]]>([])
            let outcomes = Mutex<[MessageOutcome]>([])
            var hooks = EventPipelineService.CrashPoints()
            hooks.fellBack = { origins in fellBack.withLock { $0.append(origins) } }
            hooks.settled = { _, outcome in outcomes.withLock { $0.append(outcome) } }

            var configuration = PipelineConfiguration(serviceName: "classifier-test", schema: service.schema)
            configuration.retry.initialDelay = .milliseconds(20)
            configuration.retry.maximumDelay = .milliseconds(200)
            let stageProducer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [input.name]), logger: kafka.logger)
            let pipeline = EventPipelineService(
                inputs: [StageInput(input, preparing: handler, lockingFirst: ClassifierHandler.guestLocks)], consumer: consumer,
                client: client,
                deadLetters: DeadLetterPublisher(producer: stageProducer, serviceName: "classifier-test", topic: deadLetterTopic, logger: kafka.logger),
                configuration: configuration, crashPoints: hooks, logger: kafka.logger)
            let source = try KafkaProducer(configuration: kafka.producerConfiguration(clientID: "classifier-test-source"), logger: kafka.logger)

            // Rounds until one had both lanes apply their two complaints in one transaction each: a lane
            // may take a complaint alone when the second had not yet reached it.
            var lined = 0
            try await withRunningServices([source, stageProducer, consumer, pipeline]) {
                for number in 0..<6 where lined == 0 {
                    let round = try Round(number)
                    current.withLock { $0 = round }
                    let settledBefore = outcomes.withLock { $0.count }
                    // Sent together and flushed: each partition's two in one message set.
                    for (partition, events) in [(Int32(0), round.lane0), (1, round.lane1)] {
                        for event in events {
                            _ = try source.send(KafkaProducerMessage(
                                topic: input.name, key: ByteBuffer(string: event.data.complaintID.uuidString.lowercased()),
                                value: ByteBuffer(bytes: try input.encode(event)), partition: KafkaPartition(rawValue: partition)))
                        }
                    }
                    try await source.flush(timeout: .seconds(20))
                    let settled = await eventually(timeout: .seconds(60)) { outcomes.withLock { $0.count } >= settledBefore + 4 }
                    try #require(settled)

                    #expect(fellBack.withLock { $0 }.isEmpty, "a shared transaction was rolled back (deadlock?): \(fellBack.withLock { $0 })")
                    let prepared = preparations.withLock { $0 }
                    for event in round.lane0 + round.lane1 {
                        #expect(prepared[event.id] == 1, "complaint \(event.data.complaintID) prepared \(prepared[event.id] ?? 0) times")
                    }
                    var transaction: [UUID: Int64] = [:]
                    var isRepeat: [UUID: Bool] = [:]
                    let ids0 = round.lane0.map(\.data.complaintID), ids1 = round.lane1.map(\.data.complaintID)
                    let rows = try await client.query(
                        """
                        SELECT complaint_id, xmin::text::bigint, (flags->>'repeat')::boolean FROM \(unescaped: service.schema.rawValue).classifications
                        WHERE complaint_id = ANY(\(ids0 + ids1))
                        """, logger: .complaintTest)
                    for try await (complaintID, xmin, repeatFlag) in rows.decode((UUID, Int64, Bool).self) {
                        transaction[complaintID] = xmin
                        isRepeat[complaintID] = repeatFlag
                    }
                    #expect(transaction.count == 4)
                    guard transaction[ids0[0]] == transaction[ids0[1]], transaction[ids1[0]] == transaction[ids1[1]] else { continue }
                    lined += 1
                    // Lane 0 first (lane 1 prepared only once lane 0 held its guests), then lane 1, seeing it.
                    #expect(transaction[ids0[0]] != transaction[ids1[0]])
                    #expect(ids0.map { isRepeat[$0] } == [false, false])
                    #expect(ids1.map { isRepeat[$0] } == [true, true], "the second lane's complaints did not see the first's")
                }
            }
            #expect(lined > 0, "no round had both lanes share a transaction")
            #expect(outcomes.withLock { $0 }.allSatisfy { $0 == .applied })
        }
    }
}

/// The classifier's handler with hooks around its two steps, to line two lanes' transactions up.
private struct HookedClassifier: PreparingEventHandler {
    let inner: ClassifierHandler
    /// Runs before each preparation (outside the transaction).
    var beforePreparing: @Sendable (EventEnvelope<ComplaintReceived>) async -> Void = { _ in }
    /// Runs after each event is applied, inside its (still open) transaction.
    var afterHandling: @Sendable (EventEnvelope<ComplaintReceived>) async -> Void = { _ in }

    func prepare(_ event: EventEnvelope<ComplaintReceived>, context: PreparationContext) async throws -> ClassificationEngine.Assessment {
        await beforePreparing(event)
        return try await inner.prepare(event, context: context)
    }

    func handle(
        _ event: EventEnvelope<ComplaintReceived>, prepared: ClassificationEngine.Assessment, context: HandlerContext
    ) async throws -> [OutgoingEvent] {
        let events = try await inner.handle(event, prepared: prepared, context: context)
        await afterHandling(event)
        return events
    }
}

/// Fired once, then stays fired: every waiter, before or after, goes on.
final class Latch: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    var isFired: Bool { state.withLock { $0.fired } }

    func fire() {
        let waiters = state.withLock { state in
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let fired = state.withLock { state in
                if !state.fired { state.waiters.append(continuation) }
                return state.fired
            }
            if fired { continuation.resume() }
        }
    }
}
