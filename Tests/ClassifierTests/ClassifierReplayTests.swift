import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
@testable import EventReplay
import Foundation
import Logging
import NIOCore
import PostgresNIO
@testable import RdKafka
import RdKafkaTestKit
import ServiceLifecycle
import Testing

/// `redress replay classifier`'s machinery, with the classifier as the replayed stage: a time range of
/// complaints.received.v1 through the stage's own handler into a fresh schema, compared with what the
/// live stage published.
@Suite("Replay of the classifier", .timeLimit(.minutes(4)))
struct ClassifierReplayTests {
    @Test("a replay of a time range, or of everything, matches what the live stage published, and publishes nothing")
    func replayMatches() async throws {
        let bench = try await ReplayBench()
        let (kafka, input, output, service) = (bench.kafka, bench.input, bench.output, bench.service)
        func runtime(_ service: RedressService, plugins: [String] = ReplayBench.plugins) throws -> StageRuntime {
            try bench.runtime(service, plugins: plugins)
        }
        let texts = [
            "空调不制冷，房间里闷热得睡不着", "Loud music from the room next door until 3am", "浴室地漏堵了，水漫到卧室",
            "The receptionist was rude and rolled her eyes at us", "早餐的鸡蛋是生的，孩子吃了肚子疼", "Charged twice for the minibar",
            "Exposed wires sparking behind the bedside lamp",
        ]
        let drafted = try texts.map { text in
            var event = try EventFixtures.received()
            event.data.text = text
            // Distinct guests: the guest history (repeat complaints) is then the same in any replay range.
            event.data.guest.guestKey = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            return event
        }
        var repeated = Array(drafted.dropFirst(4))
        let firstBatch = Array(drafted.prefix(4))
        // A guest who complained before the range complains again in it: a repeat, which a replay of
        // the range alone would not know.
        repeated[0].data.guest.guestKey = firstBatch[0].data.guest.guestKey
        let secondBatch = repeated
        let events = firstBatch + secondBatch

        // The live stage classifies the first batch; the range boundary is taken once it has; then the second batch.
        let boundary = try await withRunningStage(try runtime(service)) { _ in
            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [output.name]), logger: kafka.logger)
            return try await withRunningServices([producer, consumer]) {
                func publish(_ batch: [EventEnvelope<ComplaintReceived>]) async throws {
                    for event in batch {
                        _ = try await producer.sendAndAwait(KafkaProducerMessage(
                            topic: input.name, key: ByteBuffer(string: event.data.complaintID.uuidString.lowercased()),
                            value: ByteBuffer(bytes: try input.encode(event))))
                    }
                }
                try await publish(firstBatch)
                _ = try await consumer.collect(firstBatch.count)
                let boundary = Date()
                try await publish(secondBatch)
                _ = try await consumer.collect(secondBatch.count)
                return boundary
            }
        }

        let brokers = kafka.bootstrapServers
        try await withTestClient { client in
            func replay(from: Date?, to: Date? = nil, lookBack: Duration = .seconds(Int64(GuestVisit.repeatWindow)), plugins: [String] = ReplayBench.plugins, stamp: String) async throws -> (ReplayOutcome, ReplayComparison.Report) {
                try await bench.replay(from: from, to: to, lookBack: lookBack, plugins: plugins, stamp: stamp, client: client)
            }

            let (range, rangeReport) = try await replay(from: boundary, stamp: "range")
            // The look-back (the guest history's 30 days) applies the first batch too; only the range's
            // complaints are compared, and the repeat guest's classification matches.
            #expect(range.outcomes[.applied] == events.count)
            #expect(rangeReport.matching == secondBatch.count)
            #expect(rangeReport.replayed == secondBatch.count)
            #expect(rangeReport.recorded == secondBatch.count, "only the complaints of the range are compared")
            #expect(rangeReport.matches, "\(rangeReport.differing.map(\.fields)) \(rangeReport.onlyReplayed) \(rangeReport.onlyRecorded)")

            // Without the look-back the repeat is missed, and the comparison says so.
            let (_, blindReport) = try await replay(from: boundary, lookBack: .zero, stamp: "blind")
            #expect(blindReport.differing.contains { $0.fields.contains("flags") }, "\(blindReport.differing.map(\.fields))")
            #expect(blindReport.replayed == secondBatch.count)

            let (all, allReport) = try await replay(from: nil, stamp: "all")
            #expect(all.range.messages == Int64(events.count))
            #expect(allReport.matching == events.count)
            #expect(allReport.matches)

            // Up to the boundary, with another engine (keywords only): it reads some complaints
            // differently, and the comparison says where.
            let (other, otherReport) = try await replay(from: nil, to: boundary, plugins: ["keyword"], stamp: "keyword")
            #expect(other.outcomes[.applied] == firstBatch.count)
            #expect(otherReport.recorded == firstBatch.count)
            #expect(!otherReport.matches)
            #expect(otherReport.differing.contains { $0.fields.contains("confidence") || $0.fields.contains("explanation") })

            // Nothing was published: the output topic still holds the live stage's classifications only.
            let admin = try KafkaAdminClient(bootstrapServers: brokers, logger: kafka.logger)
            let progress = try await admin.progress(of: "nobody", on: [output.name])
            #expect(progress.partitions.reduce(0) { $0 + $1.end } == Int64(events.count))
        }
        try await withTestClient { client in try await dropSchema(service.schema, client: client) }
    }

    /// Before, the replay's inbox applied a complaint once while both recorded copies of its verdict were
    /// compared: the second was "only recorded" and the command exited 1.
    @Test("a verdict on the topic twice (a redrive, a relay's second publish: the same id and bytes) is compared once and matches")
    func recordedCopies() async throws {
        let bench = try await ReplayBench()
        let (kafka, input, output) = (bench.kafka, bench.input, bench.output)
        var event = try EventFixtures.received()
        event.data.text = "Loud music from the room next door until 3am"
        let received = KafkaProducerMessage(
            topic: input.name, key: ByteBuffer(string: event.data.complaintID.uuidString.lowercased()), value: ByteBuffer(bytes: try input.encode(event)))
        try await withIsolatedStage(try bench.runtime(bench.service)) { _, client in
            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [output.name]), logger: kafka.logger)
            try await withRunningServices([producer, consumer]) {
                _ = try await producer.sendAndAwait(received)
                let verdict = try #require(try await consumer.collect(1).first)
                // The verdict again, as `redress deadletter redrive` puts back one a consumer of the topic
                // dead-lettered, or a relay killed before marking its row sent publishes it again.
                _ = try await producer.sendAndAwait(KafkaProducerMessage(
                    topic: output.name, key: verdict.key, value: verdict.value, headers: verdict.headers, partition: verdict.partition))
            }
            let (outcome, report) = try await bench.replay(from: nil, stamp: "copies", client: client)
            #expect(outcome.outcomes[.applied] == 1)
            #expect(report.matches, "\(report.differing.map(\.fields)) \(report.onlyReplayed) \(report.onlyRecorded)")
            #expect(report.matching == 1)
            #expect(report.recorded == 1)
            #expect(report.recordedCopies == 1)
        }
    }

    /// Before, the comparison read the topic as soon as the replay was done: a complaint the live
    /// classifier had not classified yet was "only in the replay" and the command exited 1.
    @Test("a complaint the live classifier has not reached yet is listed apart, not as a difference")
    func liveClassifierBehind() async throws {
        let bench = try await ReplayBench()
        // The live classifier is down (stopped, its group's offsets committed) when the second complaint comes.
        let waiting = try await bench.classifyLiveThenSendAnother()
        try await withTestClient { client in
            let (outcome, report) = try await bench.replay(from: nil, stamp: "behind", liveWait: .seconds(2), client: client)
            #expect(outcome.outcomes[.applied] == 2)
            #expect(report.liveGroupReached == false)
            #expect(report.matches, "\(report.differing.map(\.fields)) \(report.onlyReplayed) \(report.onlyRecorded)")
            #expect(report.matching == 1)
            #expect(report.notReachedLive.map(\.key) == [waiting.key])
            #expect(report.onlyReplayed.isEmpty)
        }
    }

    /// Before, a partition where the live group had committed nothing counted from its first offset kept:
    /// every complaint of the range was "not reached", so a verdict only the replay gives (the live
    /// classifier dead-lettered the complaint, or runs under another group) was hidden and the command exited 0.
    @Test("a live group with no committed offsets hides nothing: a verdict only in the replay stays a difference, and the report says why")
    func liveGroupWithoutOffsets() async throws {
        let bench = try await ReplayBench()
        let input = bench.input
        // No live verdict for the second complaint (as one the live classifier dead-lettered).
        let missing = try await bench.classifyLiveThenSendAnother()
        try await withTestClient { client in
            // The comparison asks a group that never committed (a renamed group, another prefix, offsets the broker deleted).
            let (outcome, report) = try await bench.replay(
                from: nil, stamp: "nooffsets", liveWait: .seconds(2), liveGroup: "\(bench.service.executable)-renamed", client: client)
            #expect(outcome.outcomes[.applied] == 2)
            #expect(report.liveGroupReached == false)
            #expect(report.liveGroupWithoutOffsets == ["\(input.name)/0"])
            #expect(report.liveGroupUnanswered == nil)
            #expect(report.matching == 1)
            #expect(report.onlyReplayed.map(\.key) == [missing.key])
            #expect(report.notReachedLive.isEmpty)
            #expect(!report.matches)
        }
    }

    /// Before, the first error asking the group's offsets (a coordinator moving in a broker roll) failed
    /// the whole command after the replay's work.
    @Test("waiting for a group asks again after an error until the deadline, and throws only when nothing ever answered")
    func groupWaitRetries() async throws {
        let stop = ["t": [Int32(0): Int64(5)]]
        func progress(committed: Int64?) -> KafkaGroupProgress {
            KafkaGroupProgress(partitions: [.init(topic: "t", partition: 0, start: 0, end: 5, committed: committed)])
        }
        struct CoordinatorMoved: Error {}

        var asked = 0
        let answer = try await GroupWait.wait(reaching: stop, timeout: .seconds(30), interval: .milliseconds(1), askTimeout: .seconds(10)) { _ in
            asked += 1
            if asked <= 2 { throw CoordinatorMoved() }
            return progress(committed: 5)
        }
        #expect(asked == 3)
        #expect(answer.reached(stop))

        // Behind, then errors until the deadline: the last answer, not an error.
        asked = 0
        let behind = try await GroupWait.wait(reaching: stop, timeout: .seconds(2), interval: .milliseconds(10), askTimeout: .seconds(10)) { _ in
            asked += 1
            if asked == 1 { return progress(committed: 2) }
            throw CoordinatorMoved()
        }
        #expect(behind.partitions.first?.committed == 2)
        #expect(asked > 1)

        // Never an answer: the last error once the deadline has passed.
        asked = 0
        await #expect(throws: CoordinatorMoved.self) {
            _ = try await GroupWait.wait(reaching: stop, timeout: .seconds(2), interval: .milliseconds(10), askTimeout: .seconds(10)) { _ in
                asked += 1
                throw CoordinatorMoved()
            }
        }
        #expect(asked > 1)
    }

    /// Before, each question ran with its full 10 s per broker request however little of the wait was
    /// left, so with the brokers unreachable "ask again until 60 s" was one question ending long after it.
    @Test("a question to the group never gets more time than the wait has left, so an unreachable cluster does not hold the wait past its deadline")
    func groupWaitBounded() async throws {
        let stop = ["t": [Int32(0): Int64(5)]]
        struct Unreachable: Error {}
        let wait = Duration.seconds(1)
        let deadline = ContinuousClock.now + wait
        var given: [(timeout: Duration, left: Duration)] = []
        await #expect(throws: Unreachable.self) {
            _ = try await GroupWait.wait(reaching: stop, timeout: wait, interval: .milliseconds(10), askTimeout: .seconds(10)) { timeout in
                // An unreachable cluster takes all the time it is given: that must fit in what is left.
                given.append((timeout, deadline - ContinuousClock.now))
                throw Unreachable()
            }
        }
        #expect(!given.isEmpty)
        // The time left is measured just after the wait computed the timeout: a little slack for that.
        #expect(
            given.allSatisfy { $0.timeout <= $0.left + .milliseconds(100) },
            "timeouts given: \(given.map(\.timeout).prefix(3)), time left: \(given.map(\.left).prefix(3))")
    }

    /// Before, copies were counted before staff corrections were set aside: a correction on the topic twice
    /// was reported "compared once" though no correction is compared.
    @Test("copies of a set-aside staff correction are not counted as compared copies")
    func copiesOfSetAside() {
        func output(_ data: String) -> ReplayComparison.Output {
            ReplayComparison.Output(topic: "classified", key: "a", type: "com.redress.complaint.classified.v1", data: data)
        }
        var classifier = ReplayComparison(outputTopics: ["classified"], volatileFields: ["classifiedAt"])
        classifier.setsAside = { ClassificationCorrectionAPI.isStaffCorrection(data: $0.data) }
        let verdict = output(#"{"category":"noise","explanation":{"classifier":"builtin"}}"#)
        let correction = output(#"{"category":"food","explanation":{"classifier":"staff","matchedRules":["staff_correction"]}}"#)
        var recorded = ReplayComparison.RecordedOutputs()
        recorded.append(verdict, id: "v")
        recorded.append(correction, id: "c")
        recorded.append(correction, id: "c")
        let onlyCorrectionCopied = classifier.pair(replayed: [verdict], recorded: recorded)
        #expect(onlyCorrectionCopied.matches)
        #expect(onlyCorrectionCopied.setAside.count == 1)
        #expect(onlyCorrectionCopied.recordedCopies == 0)
        recorded.append(verdict, id: "v")
        #expect(classifier.pair(replayed: [verdict], recorded: recorded).recordedCopies == 1)
    }

    @Test("outputs are paired by topic, type and complaint; fields that differ are named; extras on either side are listed")
    func pairing() {
        func output(_ key: String, _ data: String, type: String = "com.redress.complaint.classified.v1") -> ReplayComparison.Output {
            ReplayComparison.Output(topic: "classified", key: key, type: type, data: data)
        }
        let report = ReplayComparison.pair(
            replayed: [output("a", #"{"category":"noise","severity":"minor"}"#), output("b", #"{"category":"food"}"#), output("c", "{}")],
            recorded: [output("a", #"{"category":"noise","severity":"serious"}"#), output("b", #"{"category":"food"}"#), output("d", "{}")])
        #expect(report.matching == 1)
        #expect(report.differing.map(\.fields) == [["severity"]])
        #expect(report.onlyReplayed.map(\.key) == ["c"])
        #expect(report.onlyRecorded.map(\.key) == ["d"])
        #expect(!report.matches)

        // A staff correction recorded after the classifier's verdict is set aside, not "only recorded".
        var classifier = ReplayComparison(outputTopics: ["classified"], volatileFields: ["classifiedAt"])
        classifier.setsAside = { ClassificationCorrectionAPI.isStaffCorrection(data: $0.data) }
        let corrected = classifier.pair(
            replayed: [output("a", #"{"category":"noise","explanation":{"classifier":"builtin"}}"#)],
            recorded: [
                output("a", #"{"category":"noise","explanation":{"classifier":"builtin"}}"#),
                output("a", #"{"category":"food","explanation":{"classifier":"staff","matchedRules":["staff_correction"]}}"#),
            ])
        #expect(corrected.matches, "\(corrected.onlyRecorded)")
        #expect(corrected.matching == 1)
        #expect(corrected.setAside.map(\.key) == ["a"])

        let comparison = ReplayComparison(outputTopics: ["classified"], volatileFields: ["classifiedAt"])
        let value = Array(#"{"id":"1","type":"t","time":"x","data":{"classifiedAt":"2026-12-03T10:00:00Z","severity":"minor"}}"#.utf8)
        #expect(comparison.output(topic: "classified", key: "a", value: value)?.data == #"{"severity":"minor"}"#)
        #expect(comparison.output(topic: "classified", key: "a", value: Array("not json".utf8)) == nil)
    }
}

/// A live classifier stage and replays of its input on fresh topics, as the replay tests set them up.
struct ReplayBench {
    static let plugins = ["keyword", "logistic"]
    let kafka: KafkaTestEnvironment
    let input: Topic<ComplaintReceived>
    let output: Topic<ComplaintClassified>
    let deadLetters: String
    let service = RedressService.classifier.isolated()
    let settings: ServiceSettings

    init() async throws {
        kafka = try KafkaTestEnvironment()
        // One input partition: the repeat guest's two complaints are applied in the order they came,
        // live and in every replay. On several partitions two complaints of one guest moments apart
        // race in the live stage and in a replay alike (each may not see the other's visit yet).
        input = Topics.received.renamed(try await kafka.makeTopic(prefix: "received", partitions: 1))
        output = Topics.classified.renamed(try await kafka.makeTopic(prefix: "classified", partitions: 2))
        deadLetters = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        settings = ServiceSettings.forTests(kafkaBrokers: kafka.bootstrapServers, databaseURL: try await TestDatabase.shared.configuration().url)
    }

    /// The classifier stage as `service` (the live one, or a replay's) with the engine of `plugins`.
    func runtime(_ service: RedressService, plugins: [String] = Self.plugins) throws -> StageRuntime {
        let engine = try ClassifierService.makeEngine(configuration: Repository.configuration(plugins: plugins), logger: kafka.logger)
        var runtime = StageRuntime(
            service: service, settings: settings, inputs: [StageInput(input, preparing: ClassifierHandler(engine: engine, outputTopic: output))],
            logger: kafka.logger)
        runtime.deadLetterTopic = deadLetters
        return runtime
    }

    /// Runs the live stage until it has classified one complaint, stops it (its group's offsets committed),
    /// then sends a second complaint, which has no live verdict; returns the second one's key.
    func classifyLiveThenSendAnother() async throws -> (key: String, message: KafkaProducerMessage) {
        let (input, output) = (self.input, self.output)
        func received(_ text: String) throws -> (key: String, message: KafkaProducerMessage) {
            var event = try EventFixtures.received()
            event.data.text = text
            let key = event.data.complaintID.uuidString.lowercased()
            return (key, KafkaProducerMessage(topic: input.name, key: ByteBuffer(string: key), value: ByteBuffer(bytes: try input.encode(event))))
        }
        let classified = try received("Loud music from the room next door until 3am"), second = try received("Charged twice for the minibar")
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            try await withIsolatedStage(try runtime(service)) { _, _ in
                let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [output.name]), logger: kafka.logger)
                try await withRunningServices([consumer]) {
                    _ = try await producer.sendAndAwait(classified.message)
                    _ = try await consumer.collect(1)
                }
            }
            _ = try await producer.sendAndAwait(second.message)
        }
        return second
    }

    /// Replays the input from `from` to `to` into a fresh schema (dropped afterwards) and compares it with the output topic.
    /// With `liveWait`, the comparison first waits that long for the live stage's group, or `liveGroup` (as `redress replay classifier` does).
    func replay(
        from: Date?, to: Date? = nil, lookBack: Duration = .seconds(Int64(GuestVisit.repeatWindow)), plugins: [String] = Self.plugins,
        stamp: String, liveWait: Duration? = nil, liveGroup: String? = nil, client: PostgresClient
    ) async throws -> (ReplayOutcome, ReplayComparison.Report) {
        let replayService = try StageReplay.replayService(of: service, stamp: stamp)
        do {
            let outcome = try await StageReplay(runtime: try runtime(replayService, plugins: plugins), from: from, to: to, lookBack: lookBack, logger: kafka.logger)
                .run(timeout: .seconds(90))
            let comparison = ReplayComparison(outputTopics: [output.name], volatileFields: ["classifiedAt"])
            let report: ReplayComparison.Report
            if let liveWait {
                report = try await comparison.compare(
                    outcome, liveGroup: liveGroup ?? service.executable, wait: liveWait, brokers: kafka.bootstrapServers, client: client, logger: kafka.logger)
            } else {
                let keys = try await outcome.range.keys(brokers: kafka.bootstrapServers, logger: kafka.logger)
                report = try await comparison.compare(outcome, inputKeys: keys, brokers: kafka.bootstrapServers, client: client, logger: kafka.logger)
            }
            try await dropSchema(replayService.schema, client: client)
            return (outcome, report)
        } catch {
            try? await dropSchema(replayService.schema, client: client)
            throw error
        }
    }
}
