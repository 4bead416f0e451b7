import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import NIOCore
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import Testing

@Suite("OutboxRelay", .timeLimit(.minutes(3)))
struct OutboxRelayTests {
    /// Enqueues `perKey` rows for each key, in one transaction per row (as stages do).
    static func enqueue(keys: [String], perKey: Int, topic: String, outbox: Outbox, client: PostgresClient) async throws {
        for index in 0..<perKey {
            for key in keys {
                _ = try await client.transaction(logger: .complaintTest) { connection in
                    try await outbox.enqueue(
                        [OutboxRow(topic: topic, aggregateKey: key, key: ByteBuffer(string: key), value: ByteBuffer(string: "\(key)#\(index)"))],
                        on: connection, logger: .complaintTest)
                }
            }
        }
    }

    static func unsent(_ outbox: Outbox, client: PostgresClient) async throws -> Int {
        try await client.withConnection { try await outbox.backlog(on: $0, logger: .complaintTest).unsentCount }
    }

    /// Each key's values, in the order they were read.
    static func perKeyOrder(_ messages: [KafkaConsumerMessage]) -> [String: [String]] {
        Dictionary(grouping: messages, by: { $0.keyString ?? "" }).mapValues { $0.map(\.valueString) }
    }

    /// A relay and its producer, configured as the stage runtime does (the producer gives up on a message
    /// before the relay stops waiting for it).
    static func relay(
        _ outbox: Outbox, client: PostgresClient, kafka: KafkaTestEnvironment, sweep: Duration, publishTimeout: Duration = .seconds(5),
        lease: Duration? = nil, batchSize: Int = 50, deadLetterTopic: String? = nil
    ) throws -> (KafkaProducer, OutboxRelay) {
        var configuration = OutboxRelay.Configuration()
        configuration.sweepInterval = sweep
        configuration.batchSize = batchSize
        configuration.retry.initialDelay = .milliseconds(20)
        configuration.retry.maximumDelay = .milliseconds(500)
        configuration.rowRetry.initialDelay = .milliseconds(20)
        configuration.rowRetry.maximumDelay = .milliseconds(200)
        configuration.publishTimeout = publishTimeout
        configuration.lease = lease ?? publishTimeout * 2
        var producerConfiguration = kafka.producerConfiguration(clientID: "relay-test")
        producerConfiguration.messageTimeout = configuration.producerMessageTimeout
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: kafka.logger)
        let deadLetters = deadLetterTopic.map { DeadLetterPublisher(producer: producer, serviceName: "relay-test", topic: $0, logger: kafka.logger) }
        return (producer, OutboxRelay(
            outbox: outbox, client: client, producer: producer, deadLetters: deadLetters, configuration: configuration, logger: kafka.logger))
    }

    @Test("rows the broker can never accept are dead-lettered after a few attempts and hold back nothing")
    func undeliverableRows() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(prefix: "outbox", partitions: 1)
        let deadLetterTopic = try await kafka.makeTopic(prefix: "outbox-dlq", partitions: 1)
        try await withRuntimeTables { client, tables in
            // Three rows over the broker's 1 MB message limit, the oldest in the outbox: with a batch of
            // three they would fill every round. Each is followed by a later event of its complaint.
            let poisonKeys = (0..<3).map { "poison-\($0)" }
            for key in poisonKeys {
                _ = try await client.transaction(logger: .complaintTest) { connection in
                    try await tables.outbox.enqueue(
                        [OutboxRow(topic: topic, aggregateKey: key, key: ByteBuffer(string: key), value: ByteBuffer(repeating: UInt8(ascii: "x"), count: 1_500_000))],
                        on: connection, logger: .complaintTest)
                }
            }
            try await Self.enqueue(keys: poisonKeys, perKey: 1, topic: topic, outbox: tables.outbox, client: client)
            try await Self.enqueue(keys: (0..<6).map { "complaint-\($0)" }, perKey: 1, topic: topic, outbox: tables.outbox, client: client)

            let (producer, relay) = try Self.relay(
                tables.outbox, client: client, kafka: kafka, sweep: .milliseconds(100), batchSize: 3, deadLetterTopic: deadLetterTopic)
            try await withRunningServices([producer, relay]) {
                let drained = try await eventually(timeout: .seconds(30)) { try await Self.unsent(tables.outbox, client: client) == 0 }
                #expect(drained)
            }
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
            let published = try await withRunningServices([consumer]) { try await consumer.collect(9) }
            #expect(Set(published.map(\.valueString)) == Set((poisonKeys + (0..<6).map { "complaint-\($0)" }).map { "\($0)#0" }))

            let letters = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [deadLetterTopic]), logger: kafka.logger)
            let deadLettered = try await withRunningServices([letters]) { try await letters.collect(3) }
            #expect(Set(deadLettered.compactMap(\.keyString)) == Set(poisonKeys))
            for letter in deadLettered {
                let record = try Topics.deadLetter.decode(Array(letter.value.readableBytesView)).data
                #expect(record.sourceTopic == topic)
                #expect(record.originalValueSize == 1_500_000)
                #expect(record.attempts == 3)
                #expect(record.reason.contains("MSG_SIZE_TOO_LARGE"))
            }
            let marked = try await client.query(
                "SELECT count(*)::int FROM \(unescaped: tables.schema.description).outbox WHERE dead_lettered_at IS NOT NULL AND attempts = 3",
                logger: .complaintTest).collect()
            #expect(try marked[0].decode(Int.self) == 3)
        }
    }

    /// A round used to dead-letter its undeliverable rows one after another, each up to the publish
    /// timeout, before marking any acknowledged row sent: with the dead-letter topic slow, the round
    /// outlasted its lease and another relay published the acknowledged rows a second time.
    @Test("acknowledged rows are marked sent before dead letters go out: a slow dead-letter topic makes no copies",
          .enabled(if: !KafkaTestEnvironment.usesExternalKafka, "needs the embedded cluster to take a partition's leader away"))
    func slowDeadLettersKeepTheLease() async throws {
        let kafka = try KafkaTestEnvironment()
        let cluster = try #require(kafka.embedded)
        let topic = try await kafka.makeTopic(prefix: "outbox-lease", partitions: 1)
        // Without a leader: each dead letter takes the producer's whole message timeout.
        let deadLetterTopic = try await kafka.makeTopic(prefix: "outbox-dlq-leaderless", partitions: 1)
        try cluster.setPartitionLeader(topic: deadLetterTopic, partition: 0, broker: nil)
        try await withRuntimeTables { client, tables in
            // Five rows over the broker's message limit, at their last attempt before the dead letter.
            let oversize = (0..<5).map { "oversize-\($0)" }
            for key in oversize {
                _ = try await client.transaction(logger: .complaintTest) { connection in
                    try await tables.outbox.enqueue(
                        [OutboxRow(topic: topic, aggregateKey: key, key: ByteBuffer(string: key), value: ByteBuffer(repeating: UInt8(ascii: "x"), count: 1_500_000))],
                        on: connection, logger: .complaintTest)
                }
            }
            try await client.query("UPDATE \(unescaped: tables.schema.description).outbox SET attempts = 2", logger: .complaintTest)
            let normal = (0..<50).map { "complaint-\($0)" }
            try await Self.enqueue(keys: normal, perKey: 1, topic: topic, outbox: tables.outbox, client: client)

            // Two replicas' relays: a 3 s lease, publishes (dead letters too) bounded by 1.2 s, the
            // producer giving up on a message after 0.96 s. Five dead letters one after another: ~5 s.
            func replica() throws -> (KafkaProducer, OutboxRelay) {
                try Self.relay(
                    tables.outbox, client: client, kafka: kafka, sweep: .seconds(600), publishTimeout: .milliseconds(1200), lease: .seconds(3),
                    batchSize: 100, deadLetterTopic: deadLetterTopic)
            }
            let (producerA, relayA) = try replica()
            let (producerB, relayB) = try replica()
            try await withRunningServices([producerA, producerB]) {
                // A fresh producer first obtains its producer id and the topic's leader, which can outlast
                // a 0.96 s message timeout: the relays' rows must not be its first messages.
                for producer in [producerA, producerB] {
                    let warm = await eventually(timeout: .seconds(30)) {
                        (try? await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: ByteBuffer(string: "warm-up"), value: ByteBuffer(string: "warm-up")))) != nil
                    }
                    try #require(warm, "the producer delivers")
                }
                async let roundA = relayA.relayOnce()
                // A's lease, read from the oversize rows: they stay claimed while A dead-letters them.
                var leaseEnd: Date?
                let claimed = try await eventually(timeout: .seconds(30)) {
                    leaseEnd = try await client.scalar(
                        "SELECT max(claimed_until) FROM \(unescaped: tables.schema.description).outbox WHERE claim_token IS NOT NULL AND aggregate_key = ANY(\(oversize))",
                        as: Date?.self)
                    return leaseEnd != nil
                }
                try #require(claimed, "relay A claimed the rows")
                let expiry = try #require(leaseEnd)
                // Relay B's round begins once the database's clock has passed A's lease, as a replica's sweep would.
                _ = try await eventually(timeout: .seconds(30)) {
                    try await client.scalar("SELECT clock_timestamp() > \(expiry)", as: Bool.self)
                }
                try await relayB.relayOnce()
                #expect(try await roundA == 55)
                // The scenario: relay A itself got the 50 rows through (besides its warm-up message).
                #expect(producerA.deliveredMessageCount == 51, "relay A's acknowledged messages: \(producerA.deliveredMessageCount)")
            }
            // Besides the two warm-up messages.
            let count = try await kafka.messageCount(of: topic)
            #expect(count == 52, "messages on the topic for 50 events and 2 warm-ups: \(count)")
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
            let messages = try await withRunningServices([consumer]) { try await consumer.collect(52) }
            #expect(messages.map(\.valueString).filter { $0 != "warm-up" }.sorted() == normal.map { "\($0)#0" }.sorted())
        }
    }

    /// A wait of just the producer's message timeout was allowed: it starts before the dead letter is
    /// produced, so a report librdkafka delivered at its message timeout came after it, and the row was
    /// dead-lettered again next round.
    @Test("dead letters go out only with a whole publish timeout left of the lease, the margin over the message timeout included")
    func deadLetterWaitKeepsTheMargin() {
        var configuration = OutboxRelay.Configuration()
        configuration.publishTimeout = .seconds(30)
        #expect(configuration.deadLetterWait(leaseLeft: configuration.producerMessageTimeout) == nil)
        #expect(configuration.deadLetterWait(leaseLeft: .seconds(29)) == nil)
        #expect(configuration.deadLetterWait(leaseLeft: .seconds(30)) == .seconds(30))
        #expect(configuration.deadLetterWait(leaseLeft: .seconds(57)) == .seconds(30))
        #expect(configuration.deadLetterWait(leaseLeft: .zero - .seconds(1)) == nil)
    }

    @Test("rows left unsent by a crash are published after restart, each complaint's in order")
    func rowsFromBeforeTheCrash() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(prefix: "outbox", partitions: 3)
        try await withRuntimeTables { client, tables in
            let keys = (0..<5).map { "complaint-\($0)" }
            try await Self.enqueue(keys: keys, perKey: 6, topic: topic, outbox: tables.outbox, client: client)
            #expect(try await Self.unsent(tables.outbox, client: client) == 30)

            let (producer, relay) = try Self.relay(tables.outbox, client: client, kafka: kafka, sweep: .seconds(1))
            try await withRunningServices([producer, relay]) {
                let drained = try await eventually(timeout: .seconds(30)) { try await Self.unsent(tables.outbox, client: client) == 0 }
                #expect(drained)
            }
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
            let messages = try await withRunningServices([consumer]) { try await consumer.collect(30) }
            for (key, values) in Self.perKeyOrder(messages) {
                #expect(values == (0..<6).map { "\(key)#\($0)" })
            }
        }
    }

    @Test("a commit wakes the relay at once: no sweep needed")
    func notificationWakesRelay() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(prefix: "outbox", partitions: 1)
        try await withRuntimeTables { client, tables in
            // A sweep interval far beyond the test's patience: only NOTIFY can get the row out in time.
            let (producer, relay) = try Self.relay(tables.outbox, client: client, kafka: kafka, sweep: .seconds(600))
            // A row from before the start: once the relay's first round has published it, the relay waits.
            try await Self.enqueue(keys: ["complaint-early"], perKey: 1, topic: topic, outbox: tables.outbox, client: client)
            try await withRunningServices([producer, relay]) {
                let firstRound = try await eventually { try await Self.unsent(tables.outbox, client: client) == 0 }
                let listening = try await eventually {
                    try await client.scalar(
                        "SELECT count(*)::int FROM pg_stat_activity WHERE query ILIKE \("LISTEN %\(tables.outbox.notificationChannel)%")", as: Int.self) > 0
                }
                try #require(firstRound && listening)
                try await Self.enqueue(keys: ["complaint-x"], perKey: 1, topic: topic, outbox: tables.outbox, client: client)
                let drained = try await eventually { try await Self.unsent(tables.outbox, client: client) == 0 }
                #expect(drained)
            }
        }
    }

    @Test("with the broker down rows stay unsent, then drain in order when it returns",
          .enabled(if: !KafkaTestEnvironment.usesExternalKafka, "needs the embedded cluster to take the broker down"))
    func brokerOutage() async throws {
        let kafka = try KafkaTestEnvironment()
        let cluster = try #require(kafka.embedded)
        let topic = try await kafka.makeTopic(prefix: "outbox", partitions: 2)
        try await withRuntimeTables { client, tables in
            let (producer, relay) = try Self.relay(tables.outbox, client: client, kafka: kafka, sweep: .milliseconds(200))
            let keys = ["complaint-a", "complaint-b", "complaint-c"]
            try await withRunningServices([producer, relay]) {
                try cluster.setBrokerDown(1)
                try await Self.enqueue(keys: keys, perKey: 4, topic: topic, outbox: tables.outbox, client: client)
                // While the relay keeps trying, no transaction of it stays open on the outbox: one held
                // across a publish would stay open for its 5 s timeout, far past the bound below; a
                // claim's own transaction, even on a loaded machine, ends well within it.
                var longest = 0.0
                for _ in 0..<30 {
                    let open = try await client.query(
                        """
                        SELECT COALESCE(max(EXTRACT(EPOCH FROM now() - xact_start)), 0)::float8 FROM pg_stat_activity
                        WHERE pid <> pg_backend_pid() AND xact_start IS NOT NULL AND query LIKE \("%\(tables.schema).outbox%")
                        """, logger: .complaintTest
                    ).collect()[0].decode(Double.self)
                    longest = max(longest, open)
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(longest < 1.5, "a transaction stayed open \(longest) s while the broker was down")
                #expect(try await Self.unsent(tables.outbox, client: client) == 12, "nothing is marked sent without an acknowledgement")
                try cluster.setBrokerUp(1)
                let drained = try await eventually(timeout: .seconds(60)) { try await Self.unsent(tables.outbox, client: client) == 0 }
                #expect(drained)
            }
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
            let messages = try await withRunningServices([consumer]) { try await consumer.collect(12) }
            for key in keys {
                #expect(Self.perKeyOrder(messages)[key] == (0..<4).map { "\(key)#\($0)" })
            }
        }
    }

    /// An outage several publish timeouts long: each relay round used to give up waiting while librdkafka
    /// kept the message queued, and the next round produced the row again — copies of every pending event.
    @Test("an outage longer than the publish timeout leaves one copy of each event, not one per relay round",
          .enabled(if: !KafkaTestEnvironment.usesExternalKafka, "needs the embedded cluster to take the broker down"))
    func noCopiesAfterLongOutage() async throws {
        let kafka = try KafkaTestEnvironment()
        let cluster = try #require(kafka.embedded)
        let topic = try await kafka.makeTopic(prefix: "outbox-copies", partitions: 1)
        try await withRuntimeTables { client, tables in
            let (producer, relay) = try Self.relay(
                tables.outbox, client: client, kafka: kafka, sweep: .milliseconds(200), publishTimeout: .seconds(1))
            try await withRunningServices([producer, relay]) {
                try cluster.setBrokerDown(1)
                try await Self.enqueue(keys: ["complaint-a", "complaint-b"], perKey: 2, topic: topic, outbox: tables.outbox, client: client)
                // Several publish timeouts, and relay rounds, pass with the broker away.
                try await Task.sleep(for: .seconds(6))
                try cluster.setBrokerUp(1)
                let drained = try await eventually(timeout: .seconds(60)) { try await Self.unsent(tables.outbox, client: client) == 0 }
                #expect(drained)
            }
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
            let (messages, copies) = try await withRunningServices([consumer]) {
                let messages = try await consumer.collect(4)
                // Anything after the four is a copy.
                let copies = (try? await consumer.collect(1, timeout: .seconds(3))) ?? []
                return (messages, copies)
            }
            #expect(messages.map(\.valueString).sorted() == ["complaint-a#0", "complaint-a#1", "complaint-b#0", "complaint-b#1"])
            #expect(copies.isEmpty, "copies: \(copies.map(\.valueString))")
        }
    }
}
