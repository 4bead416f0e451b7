import AsyncHTTPClient
import ComplaintEvents
import ComplaintStore
import Foundation
import Histogram
import Logging
import NIOCore
import NIOHTTP1
import RdKafka
import ServiceLifecycle
import Synchronization

/// `redress loadgen --full-loop`: complaints posted to intake, at a fixed rate or as fast as the
/// concurrency allows, each followed until it is assigned (`complaints.assigned.v1`) and its SLA clock
/// has started (`complaints.sla.v1` timer_started). Reports sustained complaints per second, POST →
/// assigned-with-timer latency, whether every complaint came back exactly once, and where the time
/// goes (from the events' own timestamps: registration, classification, assignment, clock start).
struct FullLoopLoad {
    var base: String
    var key: String
    var brokers: [String]
    /// Complaints go to these hotels in turn.
    var hotels: [String]
    var logger: Logger

    /// What came back for one complaint (times in seconds since the reference instant).
    struct Trace: Sendable {
        var posted: Date
        var registeredAt: Date?
        var classifiedAt: Date?
        var assignedAt: Date?
        var timerStartedAt: Date?
        var assignedCount = 0
        var timerCount = 0
        /// When the last of the two arrived here.
        var completedAt: ContinuousClock.Instant?
        var postedInstant: ContinuousClock.Instant
    }

    /// Posts `count` complaints (`rate` per second, or `concurrency` in flight when `rate` is nil) and
    /// waits up to `timeout` for all of them to come back; prints the report.
    /// - Returns: Whether every complaint was accepted and came back exactly once.
    @discardableResult
    func run(count: Int, rate: Double?, concurrency: Int, timeout: Duration, client: HTTPClient) async throws -> Bool {
        let book = TraceBook()
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: brokers, groupID: "loadgen-full-loop-\(UUID().uuidString.prefix(8))",
            topics: [Topics.classified.name, Topics.assigned.name, Topics.sla.name])
        configuration.autoOffsetReset = .latest
        configuration.isAutoCommitEnabled = false
        configuration.additionalProperties["fetch.wait.max.ms"] = "5"
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [consumer], gracefulShutdownSignals: [], logger: logger))
        let run = UUID().uuidString.prefix(8).lowercased()

        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // Listen before posting: the consumer must own its partitions first.
            try await waitForPartitions(consumer, brokers: brokers)
            try await Task.sleep(for: .milliseconds(500))
            tasks.addTask {
                for try await message in consumer.messages {
                    Self.record(message, into: book)
                }
            }

            let start = ContinuousClock.now
            var errors = 0
            var firstError: String?
            try await withThrowingTaskGroup(of: String?.self) { posts in
                var inFlight = 0
                for index in 0..<count {
                    if let rate {
                        let due = start + .microseconds(Int64(Double(index) / rate * 1_000_000))
                        if due > .now { try await Task.sleep(until: due) }
                    } else if inFlight >= concurrency, let error = try await posts.next() {
                        inFlight -= 1
                        if let error { errors += 1; firstError = firstError ?? error }
                    }
                    inFlight += 1
                    // At a fixed rate, latency counts from when the complaint was due: falling behind is
                    // queueing the guest would feel too.
                    let scheduled: ContinuousClock.Instant? = rate.map { start + .microseconds(Int64(Double(index) / $0 * 1_000_000)) }
                    posts.addTask {
                        var request = HTTPClientRequest(url: base + "/v1/complaints")
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer \(key)")
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(ByteBuffer(string: LoadgenCommand.body(hotel: hotels[index % hotels.count], externalID: "loop-\(run)-\(index)", index: index)))
                        let instant = scheduled ?? ContinuousClock.now
                        let postedAt = Date().addingTimeInterval(-Self.seconds(ContinuousClock.now - instant))
                        do {
                            let response = try await client.execute(request, timeout: .seconds(30))
                            let body = String(buffer: try await response.body.collect(upTo: 64 * 1024))
                            guard response.status == .created,
                                let id = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["id"] as? String
                            else { return "HTTP \(response.status.code): \(body.prefix(200))" }
                            book.state.withLock { state in
                                var trace = state.traces[id] ?? Trace(posted: postedAt, postedInstant: instant)
                                // The events beat the answer: it completed before we knew it was ours.
                                if trace.posted == .distantPast && trace.completedAt != nil { state.done += 1 }
                                trace.posted = postedAt
                                trace.postedInstant = instant
                                state.traces[id] = trace
                            }
                            return nil
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                while let error = try await posts.next() {
                    if let error { errors += 1; firstError = firstError ?? error }
                }
            }
            let posted = ContinuousClock.now - start
            // Wait for every posted complaint to come back assigned with its clock started.
            let deadline = ContinuousClock.now + timeout
            while book.state.withLock({ $0.done }) < count - errors && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            await group.triggerGracefulShutdown()
            tasks.cancelAll()
            try? await tasks.waitForAll()
            return report(book.state.withLock { $0.traces }, count: count, errors: errors, firstError: firstError, start: start, posted: posted, rate: rate, concurrency: concurrency)
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func record(_ message: KafkaConsumerMessage, into book: TraceBook) {
        let bytes = Array(message.value.readableBytesView)
        let now = ContinuousClock.now
        func update(_ id: UUID, _ change: (inout Trace) -> Void) {
            let key = id.uuidString.lowercased()
            book.state.withLock { state in
                // An event may beat the POST's response: keep what it says until the response arrives.
                var trace = state.traces[key] ?? Trace(posted: .distantPast, postedInstant: now)
                let wasComplete = trace.assignedCount > 0 && trace.timerCount > 0
                change(&trace)
                if !wasComplete && trace.assignedCount > 0 && trace.timerCount > 0 {
                    trace.completedAt = now
                    // Only this run's complaints count (the POST's answer may still be on its way: see below).
                    if trace.posted != .distantPast { state.done += 1 }
                }
                state.traces[key] = trace
            }
        }
        if message.topic == Topics.classified.name, let event = try? Topics.classified.decode(bytes) {
            update(event.data.complaintID) { $0.classifiedAt = event.data.classifiedAt; $0.registeredAt = event.data.registeredAt ?? $0.registeredAt }
        } else if message.topic == Topics.assigned.name, let event = try? Topics.assigned.decode(bytes), event.data.reason == .initial {
            update(event.data.complaintID) {
                $0.assignedAt = event.data.assignedAt
                $0.registeredAt = event.data.registeredAt
                $0.assignedCount += 1
            }
        } else if message.topic == Topics.sla.name, let event = try? Topics.sla.decode(bytes), event.data.kind == .timerStarted {
            update(event.data.complaintID) {
                $0.timerStartedAt = $0.timerStartedAt ?? event.data.occurredAt
                $0.timerCount += 1
            }
        }
    }

    /// Prints the report. Returns whether the run is sound: no POST error, none missing, none twice.
    func report(
        _ traces: [String: Trace], count: Int, errors: Int, firstError: String?, start: ContinuousClock.Instant, posted: Duration,
        rate: Double?, concurrency: Int
    ) -> Bool {
        let ours = traces.values.filter { $0.posted != .distantPast }
        let complete = ours.filter { $0.completedAt != nil }
        let twice = ours.filter { $0.assignedCount > 1 || $0.timerCount > 1 }.count
        var latency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        var stages: [String: Histogram<UInt64>] = [:]
        func micros(_ seconds: TimeInterval) -> UInt64 { UInt64(max(0, seconds) * 1_000_000) }
        func add(_ stage: String, _ seconds: TimeInterval?) {
            guard let seconds else { return }
            stages[stage, default: Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)].record(micros(seconds))
        }
        var last = start
        for trace in complete {
            guard let completed = trace.completedAt else { continue }
            last = max(last, completed)
            let elapsed = completed - trace.postedInstant
            latency.record(UInt64(max(0, elapsed.microseconds)))
            add("1 POST → registered (intake)", trace.registeredAt.map { $0.timeIntervalSince(trace.posted) })
            add("2 registered → classified", zip2(trace.registeredAt, trace.classifiedAt).map { $1.timeIntervalSince($0) })
            add("3 classified → assigned", zip2(trace.classifiedAt, trace.assignedAt).map { $1.timeIntervalSince($0) })
            add("4 assigned → timer started", zip2(trace.assignedAt, trace.timerStartedAt).map { $1.timeIntervalSince($0) })
        }
        let total = last - start
        let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
        let postSeconds = Double(posted.components.seconds) + Double(posted.components.attoseconds) / 1e18
        let ms = { (value: UInt64) in String(format: "%.1f", Double(value) / 1000) }
        print("full loop, \(rate.map { "\(Int($0))/s fixed rate" } ?? "full speed, \(concurrency) in flight"): \(count) complaints posted in \(String(format: "%.2f", postSeconds)) s")
        print("  accounted for: \(complete.count) of \(count - errors) accepted assigned with the timer started; \(count - errors - complete.count) missing, \(twice) twice; \(errors) POST errors\(firstError.map { " (first: \($0))" } ?? "")")
        print("  sustained: \(String(format: "%.0f", Double(complete.count) / max(seconds, 0.001))) complaints/s (first POST to last timer started, \(String(format: "%.2f", seconds)) s)")
        print("  POST → assigned with timer started: p50 \(ms(latency.valueAtPercentile(50))) ms, p90 \(ms(latency.valueAtPercentile(90))) ms, p99 \(ms(latency.valueAtPercentile(99))) ms, max \(ms(latency.maxRecorded)) ms")
        print("  where the time goes (event timestamps; p50 / p99 ms):")
        for (stage, histogram) in stages.sorted(by: { $0.key < $1.key }) {
            print("    \(stage.dropFirst(2).padding(toLength: 30, withPad: " ", startingAt: 0)) \(ms(histogram.valueAtPercentile(50))) / \(ms(histogram.valueAtPercentile(99)))")
        }
        return errors == 0 && complete.count == count && twice == 0
    }
}

/// The traces of a run, shared by the posting tasks and the consumer.
final class TraceBook: Sendable {
    let state = Mutex<(traces: [String: FullLoopLoad.Trace], done: Int)>(([:], 0))
}

private func zip2<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}

