import ComplaintPipeline
import ComplaintTesting
import Foundation
import Logging
import Prometheus
import Synchronization
import Testing

/// The breaker on a manual clock: no test sleeps.
@Suite("CircuitBreaker")
struct CircuitBreakerTests {
    static func breaker(
        _ time: ManualTime, settings: CircuitBreaker.Settings = .init(), registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logs: CapturedLogs = CapturedLogs()
    ) -> CircuitBreaker {
        CircuitBreaker(
            service: "tests", target: "outside", settings: settings, clock: time.clock, factory: PrometheusMetricsFactory(registry: registry),
            logger: Logger(label: "circuit-breaker-tests") { _ in logs })
    }

    /// Makes one call that succeeds or fails; `nil` when it was skipped.
    @discardableResult
    static func call(_ breaker: CircuitBreaker, succeeding: Bool) -> CircuitBreaker.Ticket? {
        guard case .success(let ticket) = breaker.permit() else { return nil }
        breaker.record(ticket, succeeded: succeeding)
        return ticket
    }

    static func value(_ name: String, in registry: PrometheusCollectorRegistry) -> Double? {
        let prefix = "\(name){service=\"tests\",target=\"outside\"} "
        return registry.emitToString().split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
    }

    @Test("closed until five failures in a row; a success in between starts the count again")
    func opensAfterFailuresInARow() {
        let time = ManualTime()
        let breaker = Self.breaker(time)
        for _ in 0..<4 { #expect(Self.call(breaker, succeeding: false) != nil) }
        #expect(Self.call(breaker, succeeding: true) != nil)
        for _ in 0..<4 { #expect(Self.call(breaker, succeeding: false) != nil) }
        #expect(breaker.state == .closed)
        #expect(Self.call(breaker, succeeding: false) != nil)
        #expect(breaker.state == .open(until: time.date.addingTimeInterval(30)))
        guard case .failure(let skipped) = breaker.permit() else {
            Issue.record("an open breaker let a call through")
            return
        }
        #expect(skipped.failures == 5)
        #expect(skipped.description == "after 5 failures in a row (retrying at 14:03:10 UTC)")
    }

    @Test("after the cool-down one probe goes through, the others are skipped; its success closes the breaker")
    func probeCloses() {
        let time = ManualTime()
        let breaker = Self.breaker(time)
        for _ in 0..<5 { Self.call(breaker, succeeding: false) }
        time.advance(29.9)
        #expect(Self.call(breaker, succeeding: true) == nil, "still cooling down")
        time.advance(0.1)
        #expect(breaker.state == .halfOpen(probing: false))
        guard case .success(let probe) = breaker.permit() else {
            Issue.record("no probe after the cool-down")
            return
        }
        #expect(probe.isProbe)
        #expect(breaker.state == .halfOpen(probing: true))
        guard case .failure(let skipped) = breaker.permit() else {
            Issue.record("a second call went through while the probe was under way")
            return
        }
        #expect(skipped.description == "after 5 failures in a row (a trial call is under way)")
        breaker.record(probe, succeeded: true)
        #expect(breaker.state == .closed)
        // Closed again: it takes five new failures to open it.
        for _ in 0..<4 { Self.call(breaker, succeeding: false) }
        #expect(breaker.state == .closed)
    }

    @Test("each failed probe doubles the cool-down, up to five minutes; a success starts again from 30 seconds")
    func coolDownDoubles() {
        let time = ManualTime()
        let breaker = Self.breaker(time)
        for _ in 0..<5 { Self.call(breaker, succeeding: false) }
        var coolDowns: [TimeInterval] = []
        var start = time.date
        for _ in 0..<6 {
            guard case .open(let until) = breaker.state else {
                Issue.record("not open: \(breaker.state)")
                return
            }
            coolDowns.append(until.timeIntervalSince(start))
            time.advance(until.timeIntervalSince(time.date))
            start = time.date
            #expect(Self.call(breaker, succeeding: false)?.isProbe == true)
        }
        #expect(coolDowns == [30, 60, 120, 240, 300, 300])
        guard case .open(let until) = breaker.state else { return }
        time.advance(until.timeIntervalSince(time.date))
        Self.call(breaker, succeeding: true)
        #expect(breaker.state == .closed)
        for _ in 0..<5 { Self.call(breaker, succeeding: false) }
        #expect(breaker.state == .open(until: time.date.addingTimeInterval(30)))
    }

    @Test("calls that started before it changed state do not count; an abandoned probe leaves the place to the next caller")
    func staleAndAbandoned() {
        let time = ManualTime()
        let breaker = Self.breaker(time, settings: .init(failureThreshold: 2))
        // Three calls under way at once; two fail and open it; the third's late success does not close it.
        let tickets = (0..<3).compactMap { _ -> CircuitBreaker.Ticket? in
            if case .success(let ticket) = breaker.permit() { return ticket }
            return nil
        }
        #expect(tickets.count == 3)
        breaker.record(tickets[0], succeeded: false)
        breaker.record(tickets[1], succeeded: false)
        breaker.record(tickets[2], succeeded: true)
        #expect(breaker.state == .open(until: time.date.addingTimeInterval(30)))
        time.advance(30)
        guard case .success(let probe) = breaker.permit() else {
            Issue.record("no probe")
            return
        }
        breaker.abandon(probe)
        guard case .success(let next) = breaker.permit() else {
            Issue.record("the abandoned probe kept its place")
            return
        }
        #expect(next.isProbe)
        // The abandoned probe answering late changes nothing; the live one decides.
        breaker.record(probe, succeeded: true)
        #expect(breaker.state == .halfOpen(probing: true))
        breaker.record(next, succeeded: true)
        #expect(breaker.state == .closed)
    }

    @Test("call(_:succeeded:) runs the body only while calls go through")
    func callHelper() async throws {
        let time = ManualTime()
        let breaker = Self.breaker(time, settings: .init(failureThreshold: 1))
        let runs = Mutex(0)
        let first = await breaker.call({ runs.withLock { $0 += 1 }; return 500 }, succeeded: { $0 == 200 })
        #expect(try first.get() == 500)
        let second = await breaker.call({ runs.withLock { $0 += 1 }; return 200 }, succeeded: { $0 == 200 })
        #expect(throws: CircuitBreaker.Skipped.self) { try second.get() }
        #expect(runs.withLock { $0 } == 1)
    }

    @Test("the gauge is 1 while calls are skipped, skipped calls are counted, and only the opening and the closing are logged")
    func metricsAndLogs() {
        let time = ManualTime()
        let registry = PrometheusCollectorRegistry()
        let logs = CapturedLogs()
        let breaker = Self.breaker(time, registry: registry, logs: logs)
        #expect(Self.value("outside_call_circuit_open", in: registry) == 0)
        for _ in 0..<5 { Self.call(breaker, succeeding: false) }
        #expect(Self.value("outside_call_circuit_open", in: registry) == 1)
        for _ in 0..<7 { Self.call(breaker, succeeding: false) }
        #expect(Self.value("outside_calls_skipped_total", in: registry) == 7)
        time.advance(30)
        Self.call(breaker, succeeding: false)
        time.advance(60)
        Self.call(breaker, succeeding: true)
        #expect(Self.value("outside_call_circuit_open", in: registry) == 0)
        let lines = logs.entries.filter { $0.level >= .info }
        #expect(lines.map(\.level) == [.warning, .info], "\(lines.map(\.message))")
        #expect(lines.first?.message == "outside failed 5 times in a row; calls to it are skipped until 14:03:10 UTC, then tried once")
        #expect(lines.last?.message == "outside answers again; calls to it resume")
    }
}
