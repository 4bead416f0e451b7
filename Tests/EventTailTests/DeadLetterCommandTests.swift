import ComplaintEvents
import EventTail
import Foundation
import Logging
import NIOCore
import RdKafka
import RdKafkaTestKit
import Testing

/// `redress deadletter`: the dead-letter topic listed by service, source topic, reason and time; a
/// dead letter shown in full; originals redriven byte for byte to the partitions they were read from
/// with a header naming the dead letter; truncated ones, those that may have been cut, those from a
/// dead-letter topic or a missing one, and those too close to the inboxes' window refused. Topics live under a
/// prefix of each test's own, as the services' do under KAFKA_TOPIC_PREFIX (KAFKA_BROKERS: a real Kafka).
@Suite("redress deadletter", .timeLimit(.minutes(3)))
struct DeadLetterCommandTests {
    /// A test's Kafka, its topic prefix and its dead-letter topic.
    struct World {
        let kafka: KafkaTestEnvironment
        let prefix: String
        var deadLetterTopic: String { prefix + Topics.deadLetter.name }

        init() async throws {
            kafka = try KafkaTestEnvironment()
            prefix = "dlq-\(UUID().uuidString.lowercased().prefix(8))."
            try await kafka.createTopic(deadLetterTopic, partitions: 2)
        }

        /// Publishes `records` (and `garbage` values) to the dead-letter topic, as a service's
        /// DeadLetterPublisher does; returns where each record landed.
        func publish(_ records: [DeadLetterRecord], garbage: [String] = []) async throws -> [DeadLetterPosition] {
            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
            return try await withRunningServices([producer]) {
                var positions: [DeadLetterPosition] = []
                for record in records {
                    let value = try Topics.deadLetter.encode(EventEnvelope(deadLetter: record, time: record.failedAt))
                    let report = try await producer.sendAndAwait(KafkaProducerMessage(topic: deadLetterTopic, key: record.originalKey.map { [UInt8]($0) }, value: value))
                    guard case .acknowledged(let partition, let offset) = report.status else { throw TestFailure("not acknowledged: \(report)") }
                    positions.append(DeadLetterPosition(partition: partition.rawValue, offset: offset.rawValue))
                }
                for text in garbage { _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: deadLetterTopic, key: nil, value: text)) }
                return positions
            }
        }

        func read(_ filter: DeadLetterFilter) async throws -> DeadLetterReader.Result {
            var reader = DeadLetterReader(brokers: kafka.bootstrapServers, topic: deadLetterTopic)
            reader.history.configuration.additionalProperties["fetch.wait.max.ms"] = "10"
            let configured = reader
            let logger = kafka.logger
            return try await withTimeout(.seconds(90)) { try await configured.read(filter, logger: logger) }
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static let base = EventTimestamp.date(from: "2026-12-01T10:00:00Z")!

    static func record(
        service: String, sourceTopic: String, reason: String, failedAt: Date, partition: Int = 1, offset: Int64 = 7, key: [UInt8]? = Array("k".utf8),
        value: [UInt8] = Array(#"{"not":"an event"}"#.utf8), headers: [(key: String, value: [UInt8]?)] = []
    ) -> DeadLetterRecord {
        DeadLetterRecord(
            reason: reason, sourceTopic: sourceTopic, partition: partition, offset: offset, service: service, attempts: 3, failedAt: failedAt,
            originalKey: key, originalValue: value, originalHeaders: headers)
    }

    @Test("list: filters by service, source topic, reason and time range, in the order they failed; non-dead-letters reported")
    func listFilters() async throws {
        let world = try await World()
        let received = world.prefix + Topics.received.name, classified = world.prefix + Topics.classified.name
        let records = [
            Self.record(service: "classifier", sourceTopic: received, reason: "data.text: empty", failedAt: Self.base, offset: 1),
            Self.record(service: "assignment", sourceTopic: classified, reason: "no hotel SHA-PD01 in the organisation file", failedAt: Self.base.addingTimeInterval(3600), offset: 2),
            Self.record(service: "sla-watcher", sourceTopic: classified, reason: "retries exhausted after 5 attempts: timeout", failedAt: Self.base.addingTimeInterval(7200), offset: 3),
            Self.record(service: "assignment", sourceTopic: classified, reason: "No hotel LON-KX02 in the organisation file", failedAt: Self.base.addingTimeInterval(10_800), offset: 4),
        ]
        let positions = try await world.publish(records, garbage: ["{not a dead letter"])

        let all = try await world.read(DeadLetterFilter())
        #expect(all.letters.count == 4 && all.unreadable.count == 1)
        #expect(all.letters.map(\.position) == positions.sorted())
        func offsets(_ filter: DeadLetterFilter) -> Set<Int64> { Set(all.letters.filter(filter.admits).map(\.record.offset)) }
        #expect(offsets(DeadLetterFilter(services: ["assignment"])) == [2, 4])
        #expect(offsets(DeadLetterFilter(services: ["redress-sla-watcher"])) == [3])
        #expect(offsets(DeadLetterFilter(sourceTopics: try Set(TailFollower.topicNames(["received"], prefix: world.prefix)))) == [1])
        #expect(offsets(DeadLetterFilter(reasonContains: "no hotel")) == [2, 4])
        #expect(offsets(DeadLetterFilter(services: ["assignment"], reasonContains: "lon-kx02")) == [4])
        #expect(offsets(DeadLetterFilter(since: Self.base.addingTimeInterval(20_000))).isEmpty)
        // Read from Kafka: [since, until), from the second to before the fourth (a broker that looks
        // offsets up by time starts at the first message stamped at or after since), and explicit
        // positions (only their partitions' stretch).
        let range = try await world.read(DeadLetterFilter(since: Self.base.addingTimeInterval(3600), until: Self.base.addingTimeInterval(10_800)))
        #expect(Set(range.letters.map(\.record.offset)) == [2, 3])
        let named = try await world.read(DeadLetterFilter(services: ["assignment"], positions: [positions[2], positions[3]]))
        #expect(named.letters.map(\.record.offset) == [4] && named.unreadable.isEmpty)
        // A partition the topic does not have holds nothing (`show 0:1 9:0`), and does not fail the read.
        let missing = try await world.read(DeadLetterFilter(positions: [positions[0], DeadLetterPosition(partition: 9, offset: 0)]))
        #expect(missing.letters.map(\.record.offset) == [1])

        let line = try #require(all.letters.first { $0.record.offset == 2 }).summary()
        #expect(line.hasPrefix("\(positions[1])  2026-12-01T11:00:00"))
        #expect(line.contains("assignment") && line.contains("\(classified)@1/2") && line.contains("attempts=3") && line.contains("no hotel SHA-PD01"))
        #expect(!line.contains("truncated"))
    }

    @Test("show: the record in full, the value as text, base64 when it is not UTF-8; list and show say when it was truncated")
    func show() throws {
        let json = #"{"specversion":"1.0","id":"x","data":{"text":"évier \u001b[2J"}}"#
        var letter = DeadLetter(
            topic: "complaints.deadletter.v1", position: DeadLetterPosition(partition: 0, offset: 5),
            record: Self.record(
                service: "intake", sourceTopic: "complaints.submitted.v1", reason: "data.guest.roomNumber: longer than 16 characters", failedAt: Self.base,
                value: Array(json.utf8), headers: [("traceparent", Array("00-abc-01".utf8)), ("binary", [0xFF, 0x00]), ("empty", nil)]),
            hotelID: "LON-KX02")
        var text = letter.details()
        #expect(text.contains("source        complaints.submitted.v1 partition 1 offset 7"))
        #expect(text.contains("header        traceparent: 00-abc-01") && text.contains("header        binary: base64:/wA=") && text.contains("header        empty: (no value)"))
        #expect(text.contains(json.replacingOccurrences(of: "\\u001b", with: "\\u001b")))  // JSON kept as JSON, its escapes as they were
        #expect(!text.unicodeScalars.contains { $0 == "\u{1B}" })
        letter.record.originalValue = Data([0xC3, 0x28, 0x01])
        letter.record.originalValueSize = 3
        #expect(letter.details().hasSuffix("base64:wygB"))
        letter.record.originalValueSize = 10
        text = letter.details()
        #expect(text.contains("TRUNCATED: 3 of 10 bytes kept"))
        #expect(letter.summary().contains("value truncated (3 of 10 bytes kept)"))
        #expect(DeadLetterPosition("2:17") == DeadLetterPosition(partition: 2, offset: 17))
        #expect(DeadLetterPosition("2") == nil && DeadLetterPosition("-1:3") == nil && DeadLetterPosition("1:x") == nil)
    }

    @Test("redrive: the exact original key, value and headers plus redress-redriven-from on the source topic; truncated, dead-letter-sourced and missing source topics refused")
    func redrive() async throws {
        let world = try await World()
        let source = world.prefix + Topics.received.name
        try await world.kafka.createTopic(source, partitions: 3)
        let now = Date()
        // Not UTF-8, a header without a value, one that repeats: all must come back as they were.
        let value: [UInt8] = Array(#"{"id":"1"}"#.utf8) + [0xFF, 0xFE, 0x00]
        let headers: [(key: String, value: [UInt8]?)] = [("traceparent", Array("00-5b8a-01".utf8)), ("empty", nil), ("dup", [1]), ("dup", [2])]
        let good = Self.record(service: "classifier", sourceTopic: source, reason: "hotel unknown", failedAt: now, offset: 11, key: [0x00, 0x9F, 0x41], value: value, headers: headers)
        var truncated = Self.record(service: "classifier", sourceTopic: source, reason: "too big", failedAt: now, offset: 12)
        truncated.originalValueSize = (truncated.originalValue?.count ?? 0) + 100
        let loop = Self.record(service: "metrics", sourceTopic: world.deadLetterTopic, reason: "unreadable dead letter", failedAt: now, offset: 13)
        let unkeyed = Self.record(service: "classifier", sourceTopic: source, reason: "hotel unknown", failedAt: now, offset: 14, key: nil)
        let elsewhere = Self.record(service: "classifier", sourceTopic: "other-\(world.prefix)complaints.received.v1", reason: "hotel unknown", failedAt: now, offset: 15)
        // The same key read from partitions 0 and 2 (an external publisher partitions keys its own way):
        // each copy goes back where its original was, not where librdkafka's hash of the key leads.
        let onZero = Self.record(service: "classifier", sourceTopic: source, reason: "hotel unknown", failedAt: now, partition: 0, offset: 16, key: [0x00, 0x9F, 0x41])
        let onTwo = Self.record(service: "classifier", sourceTopic: source, reason: "hotel unknown", failedAt: now, partition: 2, offset: 17, key: [0x00, 0x9F, 0x41])
        let positions = try await world.publish([good, truncated, loop, unkeyed, elsewhere, onZero, onTwo])
        let letters = try await world.read(DeadLetterFilter(positions: Set(positions))).letters
        #expect(letters.count == 7)

        let consumer = try KafkaConsumer(configuration: {
            var configuration = world.kafka.consumerConfiguration(topics: [source])
            configuration.autoOffsetReset = .earliest
            return configuration
        }(), logger: world.kafka.logger)
        let producer = try KafkaProducer(configuration: world.kafka.producerConfiguration(), logger: world.kafka.logger)
        let redrive = DeadLetterRedrive(inboxWindow: .seconds(9 * 86_400))
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let (outcomes, received) = try await withRunningServices([producer, consumer]) {
            // A dry run sends nothing, and refuses what a real run refuses: the missing topic too.
            let dry = await redrive.redrive(letters, producer: producer, dryRun: true) { _, _ in }
            #expect(dry.filter { $0 == .wouldSend }.count == 4, "\(dry)")
            #expect(dry.contains { if case .refused(let why) = $0 { why.contains("does not exist") } else { false } }, "\(dry)")
            var lines: [String] = []
            let outcomes = await redrive.redrive(letters, producer: producer, dryRun: false) { lines.append(DeadLetterRedrive.line($0, $1)) }
            #expect(lines.count == 7 && lines.filter { $0.hasPrefix("REFUSED") }.count == 3, "\(lines)")
            return (outcomes, try await consumer.collect(4))
        }
        let byOffset = Dictionary(uniqueKeysWithValues: zip(letters.map(\.record.offset), outcomes))
        guard case .refused(let why) = byOffset[12] else { Issue.record("truncated not refused: \(String(describing: byOffset[12]))"); return }
        #expect(why.contains("truncated"))
        guard case .refused(let loopWhy) = byOffset[13] else { Issue.record("dead-letter source not refused"); return }
        #expect(loopWhy.contains("dead-letter topic"))
        guard case .refused(let elsewhereWhy) = byOffset[15] else { Issue.record("missing source topic not refused: \(String(describing: byOffset[15]))"); return }
        #expect(elsewhereWhy.contains("does not exist"))
        guard case .sent(let partition, let offset) = byOffset[11] else { Issue.record("not sent: \(String(describing: byOffset[11]))"); return }

        #expect(received.count == 4)
        // Every consumer's copy on the partition its original was read from.
        for (letter, outcome) in zip(letters, outcomes) {
            if case .sent(let partition, _) = outcome { #expect(Int(partition) == letter.record.partition, "offset \(letter.record.offset): \(outcome)") }
        }
        let copy = try #require(received.first { $0.partition.rawValue == partition && $0.offset.rawValue == offset })
        #expect(copy.key.map { Array($0.readableBytesView) } == [0x00, 0x9F, 0x41])
        #expect(Array(copy.value.readableBytesView) == value)
        let goodPosition = try #require(letters.first { $0.record.offset == 11 }).position
        let expectedHeaders = headers.map { KafkaHeader(key: $0.key, value: $0.value.map { ByteBuffer(bytes: $0) }) }
            + [KafkaHeader(key: DeadLetterRedrive.redrivenFromHeader, value: "\(world.deadLetterTopic)/\(goodPosition.partition)/\(goodPosition.offset)")]
        #expect(copy.headers.map(\.key) == expectedHeaders.map(\.key))
        #expect(copy.headers.map { $0.value.map { Array($0.readableBytesView) } } == expectedHeaders.map { $0.value.map { Array($0.readableBytesView) } })
        // Stamped at the redrive, not at the original's time: the inbox horizon never passes it over.
        #expect((copy.timestampMilliseconds ?? 0) >= before)
        let bare = try #require(received.first { $0.key == nil })
        #expect(bare.headers.map(\.key) == [DeadLetterRedrive.redrivenFromHeader])
        #expect(try await world.kafka.messageCount(of: source) == 4)
    }

    @Test("redrive refuses, unless forced, an original older than the inboxes remember (its event time or failure, the earlier)")
    func inboxWindow() {
        let now = Self.base
        var redrive = DeadLetterRedrive(inboxWindow: .seconds(9 * 86_400))
        func letter(failedDaysAgo: Double, eventDaysAgo: Double? = nil) -> DeadLetter {
            let value = eventDaysAgo.map { #"{"id":"1","time":"\#(EventTimestamp.string(from: now.addingTimeInterval(-$0 * 86_400)))"}"# } ?? "{}"
            return DeadLetter(
                topic: "complaints.deadletter.v1", position: DeadLetterPosition(partition: 0, offset: 1),
                record: Self.record(service: "classifier", sourceTopic: "complaints.received.v1", reason: "r", failedAt: now.addingTimeInterval(-failedDaysAgo * 86_400), value: Array(value.utf8)),
                hotelID: "unknown")
        }
        #expect(redrive.refusal(letter(failedDaysAgo: 2), now: now) == nil)
        #expect(redrive.refusal(letter(failedDaysAgo: 10), now: now)?.contains("INBOX_RETENTION_DAYS 9 (from --inbox-retention-days)") == true)
        // Within the window but not a day short of it: a group lagging behind may read the copy after
        // its inbox forgot the original.
        #expect(redrive.refusal(letter(failedDaysAgo: 8.5), now: now)?.contains("margin for consumer lag") == true)
        #expect(redrive.refusal(letter(failedDaysAgo: 7.9), now: now) == nil)
        // Failed recently, but the event itself is older than the window: other groups applied it then.
        #expect(redrive.refusal(letter(failedDaysAgo: 1, eventDaysAgo: 10), now: now) != nil)
        #expect(redrive.refusal(letter(failedDaysAgo: 1, eventDaysAgo: 3), now: now) == nil)
        #expect(redrive.assumption.contains("INBOX_RETENTION_DAYS 9 (from --inbox-retention-days)") && redrive.assumption.contains("older than 8 days refused"))
        redrive.force = true
        #expect(redrive.refusal(letter(failedDaysAgo: 10), now: now) == nil)
    }

    @Test("the inbox window: the option, else INBOX_RETENTION_DAYS, else required unless --force (never a guessed 9)")
    func inboxWindowSource() throws {
        #expect(try InboxWindow.resolve(option: 3, environment: "12", force: false) == InboxWindow(days: 3, source: "--inbox-retention-days"))
        #expect(try InboxWindow.resolve(option: nil, environment: "2", force: false) == InboxWindow(days: 2, source: "$INBOX_RETENTION_DAYS"))
        #expect(throws: DeadLetterSettingError.self) { try InboxWindow.resolve(option: nil, environment: nil, force: false) }
        #expect(throws: DeadLetterSettingError.self) { try InboxWindow.resolve(option: nil, environment: "nine", force: false) }
        #expect(throws: DeadLetterSettingError.self) { try InboxWindow.resolve(option: 0, environment: nil, force: true) }
        #expect(try InboxWindow.resolve(option: nil, environment: nil, force: true) == nil)
        // Forced without a window: nothing is checked against one, and the summary says so.
        var redrive = DeadLetterRedrive(window: nil)
        let old = DeadLetter(
            topic: "complaints.deadletter.v1", position: DeadLetterPosition(partition: 0, offset: 1),
            record: Self.record(service: "classifier", sourceTopic: "complaints.received.v1", reason: "r", failedAt: Self.base), hotelID: "unknown")
        #expect(redrive.refusal(old, now: Self.base)?.contains("no inbox window given") == true)
        redrive.force = true
        #expect(redrive.refusal(old, now: Self.base.addingTimeInterval(400 * 86_400)) == nil && redrive.assumption.contains("not checked"))
    }

    @Test("an empty filter value is refused, not taken as no filter")
    func emptyFilterValues() {
        #expect(throws: DeadLetterSettingError.self) { try DeadLetterFilter(reasonContains: "").validate() }
        #expect(throws: DeadLetterSettingError.self) { try DeadLetterFilter(services: [""]).validate() }
        #expect(throws: Never.self) { try DeadLetterFilter(services: ["classifier"], reasonContains: "hotel").validate() }
    }

    @Test("redrive refuses, unless forced, a record that may have been cut or altered when it was recorded")
    func fidelity() {
        let redrive = DeadLetterRedrive(inboxWindow: .seconds(9 * 86_400))
        func refusal(key: [UInt8]? = Array("k".utf8), headers: [(key: String, value: [UInt8]?)] = [], force: Bool = false) -> String? {
            var redrive = redrive
            redrive.force = force
            let letter = DeadLetter(
                topic: "complaints.deadletter.v1", position: DeadLetterPosition(partition: 0, offset: 1),
                record: Self.record(service: "classifier", sourceTopic: "complaints.received.v1", reason: "r", failedAt: Self.base, key: key, headers: headers),
                hotelID: "unknown")
            return redrive.refusal(letter, now: Self.base)
        }
        #expect(refusal(key: [UInt8](repeating: 1, count: 4095), headers: [("h", [UInt8](repeating: 1, count: 1023))]) == nil)
        #expect(refusal(key: [UInt8](repeating: 1, count: 4096))?.contains("key is 4096 bytes") == true)
        #expect(refusal(key: [UInt8](repeating: 1, count: 5000))?.contains("key is 4096 bytes") == true)  // cut when recorded
        #expect(refusal(headers: [("h", [UInt8](repeating: 1, count: 1024))])?.contains("value of 1024 bytes") == true)
        #expect(refusal(headers: (0..<70).map { ("h\($0)", nil) })?.contains("64 headers") == true)
        #expect(refusal(headers: [(String(repeating: "x", count: 255), nil)])?.contains("255 characters") == true)
        #expect(refusal(headers: [("trace\0id", nil)])?.contains("U+FFFD") == true)
        #expect(refusal(key: [UInt8](repeating: 1, count: 4096), headers: [("trace\0id", nil)], force: true) == nil)
    }

    @Test("a copy redriven before and dead-lettered again is skipped when its first dead letter is selected too; the copy's partition")
    func redrivenCopies() async {
        let redrive = DeadLetterRedrive(inboxWindow: .seconds(9 * 86_400))
        func letter(_ offset: Int64, from: DeadLetterPosition? = nil, reason: String = "no hotel X in the organisation file", partition: Int = 1) -> DeadLetter {
            let headers: [(key: String, value: [UInt8]?)] = [("traceparent", Array("00-1-01".utf8))]
                + (from.map { [(DeadLetterRedrive.redrivenFromHeader, Array("complaints.deadletter.v1/\($0.partition)/\($0.offset)".utf8))] } ?? [])
            return DeadLetter(
                topic: "complaints.deadletter.v1", position: DeadLetterPosition(partition: 0, offset: offset),
                record: Self.record(service: "assignment", sourceTopic: "complaints.classified.v1", reason: reason, failedAt: Date(), partition: partition, headers: headers),
                hotelID: "X")
        }
        let first = letter(1), second = letter(2, from: DeadLetterPosition(partition: 0, offset: 1))
        let third = letter(3, from: DeadLetterPosition(partition: 0, offset: 1))
        var lines: [String] = []
        let outcomes = await redrive.redrive([first, second, third], producer: nil, dryRun: true) { lines.append(DeadLetterRedrive.line($0, $1)) }
        #expect(outcomes.filter { $0 == .wouldSend }.count == 1 && outcomes.first == .wouldSend, "\(outcomes)")
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("skipped  0:") && $0.contains("0:1") }, "\(lines)")
        // Its first dead letter not selected (gone, or outside --since): the copy is the one to send.
        #expect(await redrive.redrive([second], producer: nil, dryRun: true) { _, _ in } == [.wouldSend])

        // Back to the partition it was read from when the topic has it; an outbox row's by its key.
        #expect(DeadLetterRedrive.partition(for: first, partitions: [0, 1, 2]) == KafkaPartition(rawValue: 1))
        #expect(DeadLetterRedrive.partition(for: letter(4, partition: 9), partitions: [0, 1, 2]) == .unassigned)
        #expect(DeadLetterRedrive.partition(for: letter(5, reason: "outbox row 12 of assignment could not be published to x: y"), partitions: [0, 1, 2]) == .unassigned)
    }
}
