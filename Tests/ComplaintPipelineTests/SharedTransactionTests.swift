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

/// A lane with a backlog applies several of its partition's events in one transaction; these tests
/// check that the guarantees of one transaction per event still hold: each effect once, in order, a
/// failing event dead-lettered alone, a crash losing and duplicating nothing.
@Suite("Several events in one transaction", .timeLimit(.minutes(3)))
struct SharedTransactionTests {
    /// Holds the first event's transaction open a moment, so the rest of the backlog is queued behind it.
    static func holdingTheFirst() -> @Sendable (EventEnvelope<ComplaintReceived>, HandlerContext) async throws -> Void {
        let calls = Attempts()
        return { _, _ in
            if calls.next() == 1 { try await Task.sleep(for: .milliseconds(300)) }
        }
    }

    /// The transaction that wrote each effect (PostgreSQL's `xmin`), in the order of the input.
    static func transactions(in world: PipelineWorld, of events: [EventEnvelope<ComplaintReceived>]) async throws -> [Int64] {
        let rows = try await world.client.query(
            PostgresQuery(unsafeSQL: "SELECT event_id, xmin::text::bigint FROM \(world.tables.schema).effects"), logger: .complaintTest)
        var byEvent: [UUID: Int64] = [:]
        for try await (id, transaction) in rows.decode((UUID, Int64).self) { byEvent[id] = transaction }
        return events.compactMap { byEvent[$0.id] }
    }

    /// The complaints announced in the outbox, in the order they were enqueued.
    static func announced(in world: PipelineWorld) async throws -> [String] {
        let rows = try await world.client.query(
            PostgresQuery(unsafeSQL: "SELECT convert_from(key, 'UTF8') FROM \(world.tables.schema).outbox ORDER BY id"), logger: .complaintTest)
        var keys: [String] = []
        for try await key in rows.decode(String.self) { keys.append(key) }
        return keys
    }

    @Test("a backlog of one partition is applied several events per transaction, in order, each once")
    func backlogShares() async throws {
        try await PipelineWorld.with { world in
            let events = try (0..<40).map { _ in try EventFixtures.received() }
            // A redelivery in the middle of the backlog.
            try await world.publish(Array(events[..<20]) + [events[5]] + Array(events[20...]), partition: 0)
            var handler = world.handler
            handler.beforeApplying = Self.holdingTheFirst()
            let outcomes = LockedOutcomes()
            var hooks = EventPipelineService.CrashPoints()
            hooks.settled = { _, outcome in outcomes.append(outcome) }
            let stage = try world.stage(handler, crashPoints: hooks) { $0.maximumEventsPerTransaction = 8 }
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                let settled = await eventually { outcomes.all.count == 41 }
                #expect(settled)
            }
            #expect(outcomes.all.filter { $0 == .applied }.count == 40)
            #expect(outcomes.all.filter { $0 == .duplicate }.count == 1)
            let transactions = try await Self.transactions(in: world, of: events)
            #expect(transactions.count == 40, "every event's effect, once")
            #expect(try await world.count("SELECT count(*)::int FROM \(world.tables.schema).effects") == 40)
            // Fewer transactions than events, none holding more than the configured 8, in input order.
            let sizes = Dictionary(grouping: transactions, by: { $0 }).mapValues(\.count)
            #expect(sizes.count < 40 && sizes.values.allSatisfy { $0 <= 8 }, "\(sizes.values.sorted())")
            #expect(transactions == transactions.sorted(), "applied in the partition's order")
            #expect(try await Self.announced(in: world) == events.map { $0.data.complaintID.uuidString.lowercased() })
        }
    }

    @Test("one event per transaction when configured so, or when the input opts out")
    func oneEach() async throws {
        for optOut in [false, true] {
            try await PipelineWorld.with { world in
                let events = try (0..<12).map { _ in try EventFixtures.received() }
                try await world.publish(events, partition: 0)
                var handler = world.handler
                handler.beforeApplying = Self.holdingTheFirst()
                let stage = try world.stage(handler, sharesTransactions: !optOut) { configuration in
                    if !optOut { configuration.maximumEventsPerTransaction = 1 }
                }
                try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                    let processed = try await eventually { try await world.processedCount == 12 }
                    #expect(processed)
                }
                let transactions = try await Self.transactions(in: world, of: events)
                #expect(Set(transactions).count == 12, "opted out: \(optOut)")
            }
        }
    }

    @Test("a permanent failure inside a shared transaction: the others applied once and in order, that one dead-lettered")
    func failureInTheMiddle() async throws {
        try await PipelineWorld.with { world in
            let events = try (0..<12).map { _ in try EventFixtures.received() }
            let poison = events[6].id
            try await world.publish(events, partition: 0)
            var handler = world.handler
            let hold = Self.holdingTheFirst()
            let calls = Mutex<[UUID: Int]>([:])
            handler.beforeApplying = { event, context in
                try await hold(event, context)
                calls.withLock { $0[event.id, default: 0] += 1 }
                if event.id == poison { throw RejectedEvent("complaint \(event.data.complaintID) is not ours") }
            }
            let fallbacks = Mutex<[[Int64]]>([])
            var hooks = EventPipelineService.CrashPoints()
            hooks.fellBack = { origins in fallbacks.withLock { $0.append(origins.map(\.offset)) } }
            let stage = try world.stage(handler, crashPoints: hooks)
            let deadLetters = try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                let processed = try await eventually { try await world.processedCount == 11 }
                #expect(processed)
                return try await world.read(1, from: world.deadLetterTopic)
            }
            let letter = try #require(deadLetters.first)
            #expect(letter.headers.first(named: DeadLetterHeaders.reason)?.contains("is not ours") == true)
            #expect(letter.headers.first(named: DeadLetterHeaders.sourceOffset) == "6")
            for event in events {
                #expect(try await world.effects(of: event.id) == (event.id == poison ? 0 : 1))
            }
            let expected = events.filter { $0.id != poison }.map { $0.data.complaintID.uuidString.lowercased() }
            #expect(try await Self.announced(in: world) == expected)
            // The shared attempt really happened: some event was tried in it and then again alone.
            #expect(calls.withLock { $0.values.contains { $0 >= 2 } })
            // Exactly one shared transaction fell back: the one holding the poison, a contiguous run.
            let fellBack = fallbacks.withLock { $0 }
            #expect(fellBack.count == 1)
            #expect(fellBack.first.map { $0.contains(6) && $0 == Array($0[0]...$0[$0.count - 1]) } == true)
        }
    }

    @Test("an input that locks hotels shares one transaction per hotel, locking it only for events that take the lock; a failure falls back for that hotel's events only")
    func onePerHotel() async throws {
        try await PipelineWorld.with { world in
            let hotels = ["HOTEL-A", "HOTEL-B", "HOTEL-C"]
            // Three hotels interleaved in one partition, as complaints keyed by id land.
            let events = try (0..<24).map { index in
                var event = try EventFixtures.received()
                event.hotelID = hotels[index % 3]
                event.data.hotelID = event.hotelID
                return event
            }
            let poison = events[7].id  // of HOTEL-B
            try await world.publish(events, partition: 0)
            var handler = world.handler
            let hold = Self.holdingTheFirst()
            handler.beforeApplying = { event, context in
                try await hold(event, context)
                if event.id == poison { throw RejectedEvent("complaint \(event.data.complaintID) is not ours") }
            }
            // HOTEL-C's events are of a kind whose handling never takes the hotel's lock.
            handler.takesLock = { $0.hotelID != "HOTEL-C" }
            let locked = Mutex<[[String]]>([])
            let input = StageInput(world.input, handler).sharingTransactions { hotelIDs, _, _ in
                locked.withLock { $0.append(hotelIDs) }
            }
            let fallbacks = Mutex<[[Int64]]>([])
            var hooks = EventPipelineService.CrashPoints()
            hooks.fellBack = { origins in fallbacks.withLock { $0.append(origins.map(\.offset)) } }
            let stage = try world.stage(input: input, crashPoints: hooks)
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                let processed = try await eventually { try await world.processedCount == 23 }
                #expect(processed)
                let dead = try await world.read(1, from: world.deadLetterTopic)
                #expect(dead.first?.headers.first(named: DeadLetterHeaders.sourceOffset) == "7")
            }
            // Every shared transaction locked one hotel; at least one held several events.
            let locks = locked.withLock { $0 }
            #expect(!locks.isEmpty && locks.allSatisfy { $0.count == 1 && $0 != ["HOTEL-C"] }, "\(locks)")
            let transactions = try await Self.transactions(in: world, of: events.filter { $0.id != poison })
            #expect(transactions.count == 23)
            let appliedEvents = events.filter { $0.id != poison }
            var hotelsOfTransaction: [Int64: Set<String>] = [:]
            for (event, transaction) in zip(appliedEvents, transactions) { hotelsOfTransaction[transaction, default: []].insert(event.hotelID) }
            #expect(hotelsOfTransaction.values.allSatisfy { $0.count == 1 }, "no transaction mixed hotels")
            #expect(hotelsOfTransaction.count < 23, "some events shared a transaction")
            // Only the poison's hotel fell back, and only its events.
            let fellBack = fallbacks.withLock { $0 }
            #expect(fellBack.count == 1)
            #expect(fellBack.first.map { $0.contains(7) && $0.allSatisfy { $0 % 3 == 1 } } == true, "\(fellBack)")
            // Each hotel's complaints announced in the partition's order, each once.
            let announced = try await Self.announced(in: world)
            #expect(announced.count == 23)
            for hotel in hotels {
                let expected = appliedEvents.filter { $0.hotelID == hotel }.map { $0.data.complaintID.uuidString.lowercased() }
                #expect(announced.filter(Set(expected).contains) == expected, "\(hotel)")
            }
        }
    }

    @Test("dies before a shared transaction commits: none of it applied, then each once after the restart")
    func crashInsideShared() async throws {
        try await PipelineWorld.with { world in
            let events = try (0..<10).map { _ in try EventFixtures.received() }
            try await world.publish(events, partition: 0)
            var handler = world.handler
            handler.beforeApplying = Self.holdingTheFirst()
            let reached = Attempts()
            var crashPoints = EventPipelineService.CrashPoints()
            // The third event to reach its commit point: after the first (held alone or with others).
            crashPoints.beforeCommit = { _ in if reached.next() == 3 { throw SimulatedCrash() } }
            let crashing = try world.stage(handler, crashPoints: crashPoints)
            let failure = await runUntilFailure([crashing.producer, crashing.consumer, crashing.pipeline], logger: world.kafka.logger)
            #expect(failure is SimulatedCrash)
            // Whatever committed, committed whole: every effect with its inbox row and its announcement.
            let effects = try await world.count("SELECT count(*)::int FROM \(world.tables.schema).effects")
            #expect(effects < 3)
            #expect(try await world.processedCount == effects)
            #expect(try await world.outboxCount == effects)

            let restarted = try world.stage(world.handler)
            try await withRunningServices([restarted.producer, restarted.consumer, restarted.pipeline]) {
                let processed = try await eventually { try await world.processedCount == 10 }
                #expect(processed)
            }
            for event in events { #expect(try await world.effects(of: event.id) == 1) }
            #expect(try await Self.announced(in: world) == events.map { $0.data.complaintID.uuidString.lowercased() })
        }
    }

    @Test("a preparing input shares transactions too: each new event prepared once, in order; a known duplicate not prepared at all")
    func preparingShares() async throws {
        try await PipelineWorld.with { world in
            let events = try (0..<20).map { _ in try EventFixtures.received() }
            // The first eight applied by an earlier run of the stage; then all twenty redelivered.
            try await world.publish(Array(events[..<8]), partition: 0)
            let earlier = PreparingRecorder(inner: world.handler)
            let first = try world.stage(input: StageInput(world.input, preparing: earlier))
            try await withRunningServices([first.producer, first.consumer, first.pipeline]) {
                let processed = try await eventually { try await world.processedCount == 8 }
                #expect(processed)
            }
            try await world.publish(events, partition: 0)
            var inner = world.handler
            inner.beforeApplying = Self.holdingTheFirst()
            let recorder = PreparingRecorder(inner: inner)
            let second = try world.stage(input: StageInput(world.input, preparing: recorder))
            try await withRunningServices([second.producer, second.consumer, second.pipeline]) {
                let processed = try await eventually { try await world.processedCount == 20 }
                #expect(processed)
                // The second run also reads the first eight again: wait until all 28 are behind it.
                let all = await eventually { recorder.preparedCount == 12 }
                #expect(all)
            }
            #expect(recorder.prepared == events[8...].map(\.id), "only the new ones, each once, in order")
            for event in events { #expect(try await world.effects(of: event.id) == 1) }
            let transactions = try await Self.transactions(in: world, of: Array(events[8...]))
            #expect(Set(transactions).count < 12, "some of them shared a transaction")
            #expect(try await Self.announced(in: world) == events.map { $0.data.complaintID.uuidString.lowercased() })
        }
    }
}

/// A preparing handler that records what it prepared, then applies like ``RecordingHandler``.
struct PreparingRecorder: PreparingEventHandler {
    final class Log: Sendable {
        let ids = Mutex<[UUID]>([])
    }

    let inner: RecordingHandler
    private let log = Log()

    init(inner: RecordingHandler) {
        self.inner = inner
    }

    var prepared: [UUID] { log.ids.withLock { $0 } }
    var preparedCount: Int { log.ids.withLock { $0.count } }

    func prepare(_ event: EventEnvelope<ComplaintReceived>, context: PreparationContext) async throws -> UUID {
        log.ids.withLock { $0.append(event.id) }
        return event.id
    }

    func handle(_ event: EventEnvelope<ComplaintReceived>, prepared: UUID, context: HandlerContext) async throws -> [OutgoingEvent] {
        #expect(prepared == event.id)
        return try await inner.handle(event, context: context)
    }
}

/// Touches its complaint's row (insert or update, a row lock either way) and counts its calls: a
/// shared transaction that deadlocked and fell back would call it twice for some event.
struct ComplaintToucher<Payload: EventPayload>: EventHandler {
    final class Calls: Sendable {
        let count = Mutex(0)
    }

    let calls: Calls

    func handle(_ event: EventEnvelope<Payload>, context: HandlerContext) async throws -> [OutgoingEvent] {
        calls.count.withLock { $0 += 1 }
        try await context.connection.query(
            """
            INSERT INTO touched (complaint_id, touches) VALUES (\(event.subject ?? ""), 1)
            ON CONFLICT (complaint_id) DO UPDATE SET touches = touched.touches + 1
            """,
            logger: context.logger)
        // Widen the window in which two lanes' transactions overlap.
        _ = try await context.connection.query("SELECT pg_sleep(0.005)", logger: context.logger).collect()
        return []
    }
}

@Suite("Shared transactions across a stage's topics", .timeLimit(.minutes(3)))
struct SharedAcrossTopicsTests {
    @Test("two topics holding the same complaints in opposite orders: both lanes share transactions without deadlocking")
    func oppositeOrders() async throws {
        let kafka = try KafkaTestEnvironment()
        let received = Topics.received.renamed(try await kafka.makeTopic(prefix: "received", partitions: 1))
        let classified = Topics.classified.renamed(try await kafka.makeTopic(prefix: "classified", partitions: 1))
        let deadLetterTopic = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        try await withRuntimeTables { client, tables in
            try await client.query(PostgresQuery(unsafeSQL: """
                CREATE TABLE \(tables.schema).touched (complaint_id text PRIMARY KEY, touches int NOT NULL)
                """), logger: .complaintTest)
            let complaints = (0..<24).map { _ in UUID() }
            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(clientID: "opposite-source"), logger: kafka.logger)
            try await withRunningServices([producer]) {
                for complaint in complaints {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: received.name, key: ByteBuffer(string: complaint.uuidString.lowercased()),
                        value: ByteBuffer(bytes: try received.encode(try EventFixtures.received(complaintID: complaint)))))
                }
                for complaint in complaints.reversed() {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: classified.name, key: ByteBuffer(string: complaint.uuidString.lowercased()),
                        value: ByteBuffer(bytes: try classified.encode(try EventFixtures.classified(complaintID: complaint)))))
                }
            }
            let calls = ComplaintToucher<ComplaintReceived>.Calls()
            let classifiedCalls = ComplaintToucher<ComplaintClassified>.Calls()
            let stageProducer = try KafkaProducer(configuration: kafka.producerConfiguration(clientID: "opposite-stage"), logger: kafka.logger)
            let consumer = try KafkaConsumer(
                configuration: kafka.consumerConfiguration(groupID: "opposite-\(UUID().uuidString.lowercased())", topics: [received.name, classified.name]),
                logger: kafka.logger)
            let pipeline = EventPipelineService(
                inputs: [
                    StageInput(received, ComplaintToucher<ComplaintReceived>(calls: calls)),
                    StageInput(classified, ComplaintToucher<ComplaintClassified>(calls: classifiedCalls)),
                ],
                consumer: consumer, client: client,
                deadLetters: DeadLetterPublisher(producer: stageProducer, serviceName: "opposite-test", topic: deadLetterTopic, logger: kafka.logger),
                configuration: PipelineConfiguration(serviceName: "opposite-test", schema: tables.schema), logger: kafka.logger)
            try await withRunningServices([stageProducer, consumer, pipeline]) {
                let done = try await eventually(timeout: .seconds(60)) {
                    let rows = try await client.query(
                        PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(tables.schema).processed_events"), logger: .complaintTest
                    ).collect()
                    return try rows[0].decode(Int.self) == 48
                }
                #expect(done)
            }
            let rows = try await client.query(
                PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(tables.schema).touched WHERE touches = 2"), logger: .complaintTest
            ).collect()
            #expect(try rows[0].decode(Int.self) == 24, "every complaint touched by both topics, once each")
            // No shared transaction failed (a deadlock would have made it fall back and call again).
            #expect(calls.count.withLock { $0 } == 24 && classifiedCalls.count.withLock { $0 } == 24)
        }
    }
}
