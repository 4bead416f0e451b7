import ComplaintEvents
import EventTail
import Foundation
import Logging
import RdKafka
import RdKafkaTestKit
import Testing

/// `redress tail`: every documented event reads as one line with its key fields; filters remember a
/// complaint's severity; the follower reads real topics from the beginning and stops at its limit.
@Suite("redress tail", .timeLimit(.minutes(2)))
struct EventTailTests {
    static let examples: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("schemas/examples")

    /// Every example event of `schemas/examples`, with the topic that carries it.
    static func exampleEvents() throws -> [(file: String, topic: String, value: [UInt8])] {
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".json") }.sorted()
        return try files.map { file in
            let value = Array(try Data(contentsOf: examples.appendingPathComponent(file)))
            let type = (try JSONSerialization.jsonObject(with: Data(value)) as? [String: Any])?["type"] as? String ?? ""
            return (file, Topics.carrying(eventType: type)?.name ?? "unknown", value)
        }
    }

    @Test("every example event reads as one line naming its hotel, complaint, type and key fields")
    func examplesRead() throws {
        let events = try Self.exampleEvents()
        #expect(events.count >= 30)
        for event in events {
            let line = EventLine(topic: event.topic, value: event.value)
            let text = line.formatted(colour: false)
            #expect(!text.contains("\n"), "\(event.file)")
            #expect(line.type != "-" && !line.details.isEmpty, "\(event.file): \(text)")
            if event.file.hasPrefix("complaint-") && !event.file.hasPrefix("complaint-submitted") {
                #expect(line.complaint != "-" && line.hotel != "-", "\(event.file): \(text)")
            }
        }
        func line(_ file: String) throws -> String {
            let event = try #require(events.first { $0.file == file })
            return EventLine(topic: event.topic, value: event.value).formatted(colour: false)
        }
        let classified = try line("complaint-classified.v1.en.json")
        #expect(classified.contains("LON-KX02") && classified.contains("c1d2e3f4 ") && classified.contains("classified"))
        #expect(classified.contains("category=noise severity=serious priority=1") && classified.contains("flags=repeat,reviewThreat,vip"))
        #expect(try line("complaint-assigned.v1.en.json").contains("department=security assignee=Priya Patel reason=initial"))
        #expect(try line("complaint-sla.v1.escalated.json").contains("kind=escalated target=resolve"))
        #expect(try line("complaint-sla.v1.escalated.json").contains("level=1 to=department_head"))
        #expect(try line("complaint-updated.v1.compensation-requested.en.json").contains("compensation=5000 GBP minor"))
        #expect(try line("dead-letter-record.v1.json").contains("from=complaints.submitted.v1@3/18244"))
    }

    @Test("colour only when asked: red for a breach, green for a deadline met; unreadable values still shown")
    func colours() throws {
        let events = try Self.exampleEvents()
        let breached = try #require(events.first { $0.file == "complaint-sla.v1.breached.json" })
        let met = try #require(events.first { $0.file == "complaint-sla.v1.met.json" })
        #expect(EventLine(topic: breached.topic, value: breached.value).formatted(colour: true).contains("\u{1B}[1;31m"))
        #expect(EventLine(topic: met.topic, value: met.value).formatted(colour: true).contains("\u{1B}[1;32m"))
        #expect(!EventLine(topic: met.topic, value: met.value).formatted(colour: false).contains("\u{1B}"))
        let garbage = EventLine(topic: "complaints.received.v1", value: Array("{not json".utf8))
        #expect(garbage.type == "received" && garbage.formatted(colour: false).contains("unreadable={not json"))
    }

    /// A guest's text is anyone's: escape sequences in it (erase the line above, move the cursor, set the
    /// window title), a bare carriage return or a bidirectional override must not reach the terminal.
    @Test("control characters in event text never reach the operator's terminal")
    func controlCharacters() throws {
        let events = try Self.exampleEvents()
        let received = try #require(events.first { $0.file.hasPrefix("complaint-received") })
        var object = try #require(try JSONSerialization.jsonObject(with: Data(received.value)) as? [String: Any])
        var data = try #require(object["data"] as? [String: Any])
        data["text"] = "ok\r\u{1B}[1A\u{1B}[2K\u{1B}]0;pwned\u{07}\u{202E}gnol"
        object["data"] = data
        object["hotelid"] = "HOTEL\u{1B}[31m"
        let value = Array(try JSONSerialization.data(withJSONObject: object))
        let plain = EventLine(topic: received.topic, value: value).formatted(colour: false)
        #expect(!plain.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\u{202E}" }, "\(plain.debugDescription)")
        #expect(plain.contains("ok\u{FFFD}\u{FFFD}[1A"))
        let coloured = EventLine(topic: received.topic, value: value).formatted(colour: true)
        #expect(!coloured.contains("\u{1B}[1A") && !coloured.contains("\u{1B}]0;") && !coloured.contains("\u{1B}[31m"))
        let garbage = EventLine(topic: "complaints.received.v1", value: Array("\u{1B}[2J not json".utf8)).formatted(colour: false)
        #expect(!garbage.contains("\u{1B}"))
    }

    @Test("filters: hotel, type, complaint prefix, and severity remembered from the complaint's classification")
    func filters() throws {
        let events = try Self.exampleEvents()
        let lines = events.map { EventLine(topic: $0.topic, value: $0.value) }
        var serious = TailFilter(severities: ["serious"])
        let admitted = lines.filter { serious.admits($0) }
        // The English example complaint is serious: its staff actions (no severity of their own) pass too.
        #expect(admitted.contains { $0.type == "updated" && $0.complaint.hasPrefix("c1d2e3f4") })
        #expect(!admitted.contains { $0.severity == "moderate" || $0.severity == "minor" })
        var london = TailFilter(hotels: ["LON-KX02"], types: ["sla"])
        #expect(lines.filter { london.admits($0) }.allSatisfy { $0.hotel == "LON-KX02" && $0.type == "sla" })
        var one = TailFilter(complaint: "C1D2E3F4")
        #expect(lines.filter { one.admits($0) }.allSatisfy { $0.complaint.hasPrefix("c1d2e3f4") })
        #expect(try TailFollower.topicNames(["sla", "complaints.updated.v1"]) == ["complaints.sla.v1", "complaints.updated.v1"])
        #expect(try TailFollower.topicNames([]).count == Topics.all.count)
        #expect(throws: TailError.self) { try TailFollower.topicNames(["nosuch"]) }
    }

    @Test("follows a topic from the beginning, filtered, and stops at its limit; --json prints the event as published")
    func follows() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(prefix: "tail", partitions: 2)
        let events = try Self.exampleEvents().filter { $0.file.hasPrefix("complaint-sla") }
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            for event in events { _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: Array("k".utf8), value: event.value)) }
        }

        func follow(json: Bool, filter: TailFilter, limit: Int) async throws -> [String] {
            var follower = TailFollower(brokers: kafka.bootstrapServers, topics: [topic], fromBeginning: true)
            follower.configuration.additionalProperties["fetch.wait.max.ms"] = "10"
            follower.json = json
            follower.limit = limit
            let collected = Collected()
            let configured = follower
            let count = try await withTimeout(.seconds(60)) {
                try await configured.run(filter: filter, logger: kafka.logger) { collected.append($0) }
            }
            #expect(count == limit)
            return collected.lines
        }
        // London's clock events only: the others are skipped, and the follower stops when it has them all.
        let london = events.filter { EventLine(topic: topic, value: $0.value).hotel == "LON-KX02" }
        let breaches = london.filter { $0.file.contains("breached") || $0.file.contains("escalated") || $0.file.contains("ceiling") }
        #expect(london.count < events.count && !breaches.isEmpty)
        let lines = try await follow(json: false, filter: TailFilter(hotels: ["LON-KX02"], types: ["sla"]), limit: london.count)
        #expect(lines.count == london.count && lines.allSatisfy { $0.contains("LON-KX02") && $0.contains(" sla ") })
        #expect(lines.filter { $0.contains("kind=breached") || $0.contains("kind=escalated") || $0.contains("kind=ceiling_reached") }.count == breaches.count)

        let raw = try await follow(json: true, filter: TailFilter(), limit: 1)
        let printed = try #require(raw.first)
        #expect(!printed.contains("\n"))
        let object = try JSONSerialization.jsonObject(with: Data(printed.utf8)) as? NSDictionary
        #expect(events.contains { (try? JSONSerialization.jsonObject(with: Data($0.value)) as? NSDictionary) == object }, "\(printed)")
    }

    /// `redress tail --json | jq`: a malformed value stopped jq at a parse error (everything after it
    /// unseen), a pretty-printed one spanned lines, and raw escape sequences reached the terminal.
    @Test("--json: one valid JSON value per line for any message, with nothing a terminal acts on")
    func jsonLines() throws {
        func isTerminalSafe(_ line: String) -> Bool {
            !line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || (0x202A...0x202E).contains($0.value) || (0x2066...0x2069).contains($0.value) }
        }
        func parsed(_ line: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) }
        // A pretty-printed event: one line, the same event.
        let event = try #require(try Self.exampleEvents().first { $0.file.hasPrefix("complaint-received") })
        let pretty = try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: Data(event.value)), options: [.prettyPrinted])
        #expect(pretty.contains(UInt8(ascii: "\n")))
        let one = EventLine.jsonLine(topic: event.topic, partition: 0, offset: 1, value: Array(pretty))
        #expect(!one.contains("\n") && isTerminalSafe(one), "\(one.debugDescription)")
        #expect((try parsed(one) as? NSDictionary) == (try JSONSerialization.jsonObject(with: Data(event.value)) as? NSDictionary))
        // Valid JSON with a C1 control and a bidirectional override in a string: escaped, same text.
        let sneaky = Array(#"{"data":{"text":"a\#u{9B}2J\#u{202E}b"}}"#.utf8)
        let escaped = EventLine.jsonLine(topic: "complaints.received.v1", partition: 0, offset: 2, value: sneaky)
        #expect(isTerminalSafe(escaped), "\(escaped.debugDescription)")
        #expect(((try parsed(escaped) as? [String: Any])?["data"] as? [String: Any])?["text"] as? String == "a\u{9B}2J\u{202E}b")
        // Not JSON, with escape sequences and a newline: wrapped, so jq reads on.
        let garbage = Array("\u{1B}]0;pwned\u{07}\u{1B}[2J not json\nsecond line".utf8) + [0xFF]
        let wrapped = EventLine.jsonLine(topic: "complaints.submitted.v1", partition: 3, offset: 18244, value: garbage)
        #expect(!wrapped.contains("\n") && isTerminalSafe(wrapped), "\(wrapped.debugDescription)")
        let object = try #require(try parsed(wrapped) as? [String: Any], "\(wrapped)")
        #expect(object["topic"] as? String == "complaints.submitted.v1")
        #expect((object["partition"] as? NSNumber)?.intValue == 3 && (object["offset"] as? NSNumber)?.int64Value == 18244)
        #expect((object["unreadable"] as? String)?.hasPrefix("\u{1B}]0;pwned\u{07}\u{1B}[2J not json\nsecond line") == true)
        // An empty value (a tombstone) too.
        #expect((try parsed(EventLine.jsonLine(topic: "t", partition: 0, offset: 0, value: [])) as? [String: Any])?["unreadable"] as? String == "")
    }

    @Test("under KAFKA_TOPIC_PREFIX, short names, none and Redress's full names are read under the prefix, as the services write them")
    func prefixed() async throws {
        let prefix = "tail-\(UUID().uuidString.lowercased().prefix(8))."
        #expect(try TailFollower.topicNames(["sla", "complaints.updated.v1"], prefix: prefix) == [prefix + "complaints.sla.v1", prefix + "complaints.updated.v1"])
        #expect(try TailFollower.topicNames([], prefix: prefix) == Topics.all.map { prefix + $0.name })
        #expect(try TailFollower.topicNames(["all"], prefix: prefix).allSatisfy { $0.hasPrefix(prefix) })
        // Another topic's full name, or one already prefixed, is taken as it is.
        #expect(try TailFollower.topicNames(["audit.events", prefix + "complaints.sla.v1"], prefix: prefix) == ["audit.events", prefix + "complaints.sla.v1"])
        #expect(throws: TailError.self) { try TailFollower.topicNames(["nosuch"], prefix: prefix) }

        // `redress tail sla` in a staging environment: the clock events of staging.complaints.sla.v1.
        let kafka = try KafkaTestEnvironment()
        let names = try TailFollower.topicNames(["sla"], prefix: prefix)
        try await kafka.createTopic(names[0], partitions: 2)
        let events = try Self.exampleEvents().filter { $0.file.hasPrefix("complaint-sla") }
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            for event in events { _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: names[0], key: Array("k".utf8), value: event.value)) }
        }
        var follower = TailFollower(brokers: kafka.bootstrapServers, topics: names, fromBeginning: true)
        follower.configuration.additionalProperties["fetch.wait.max.ms"] = "10"
        follower.topicPrefix = prefix
        follower.limit = events.count
        let collected = Collected()
        let configured = follower
        let count = try await withTimeout(.seconds(60)) {
            try await configured.run(filter: TailFilter(types: ["sla"]), logger: kafka.logger) { collected.append($0) }
        }
        #expect(count == events.count)
        #expect(collected.lines.allSatisfy { $0.contains(" sla ") })
    }
}

/// Lines printed by the follower's callback.
final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}
