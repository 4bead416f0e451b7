import Foundation
import Logging
import Metrics
import Synchronization

/// Stops calling an outside service (a group's dispatcher, an external model) that keeps failing, so
/// a backlog is not drained at one complaint per timeout while it is down: after
/// ``Settings/failureThreshold`` failures in a row the calls are skipped for a cool-down, then one trial
/// call (a probe) goes through; its success resumes the calls, its failure doubles the cool-down (up to
/// ``Settings/maximumCoolDown``).
///
/// States: closed (calls go through) → open (skipped until the cool-down ends) → half-open (one probe
/// at a time; the others are skipped) → closed. Lock-protected, so callers on any task share one.
///
/// On `/metrics`: `outside_call_circuit_open{service,target}` (1 while calls are skipped, 0 while they
/// go through) and `outside_calls_skipped_total{service,target}`. It logs one warning when it opens and
/// one info line when it closes, never one per call.
public final class CircuitBreaker: Sendable {
    /// When it opens and how long it stays open.
    public struct Settings: Sendable, Hashable {
        /// Failures in a row that open it.
        public var failureThreshold = 5
        /// How long calls are skipped after it opens, before the first probe.
        public var coolDown: Duration = .seconds(30)
        /// The longest cool-down: each failed probe doubles it up to this.
        public var maximumCoolDown: Duration = .seconds(300)

        public init(failureThreshold: Int = 5, coolDown: Duration = .seconds(30), maximumCoolDown: Duration = .seconds(300)) {
            self.failureThreshold = max(1, failureThreshold)
            self.coolDown = coolDown
            self.maximumCoolDown = max(coolDown, maximumCoolDown)
        }

        /// The cool-down after the `opening`-th opening in a row (1: the first).
        func coolDown(opening: Int) -> TimeInterval {
            let base = Self.seconds(coolDown)
            return min(base * pow(2, Double(max(0, opening - 1))), Self.seconds(maximumCoolDown))
        }

        static func seconds(_ duration: Duration) -> TimeInterval {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
    }

    /// Where the breaker stands.
    public enum State: Sendable, Hashable {
        /// Calls go through.
        case closed
        /// Calls are skipped until `until`.
        case open(until: Date)
        /// The cool-down is over: one probe may go through (`probing`: it is under way).
        case halfOpen(probing: Bool)
    }

    /// A call that was not made: why, and when it will be tried again. Its description completes
    /// "the dispatcher is skipped …": `after 5 failures in a row (retrying at 14:03:10 UTC)`.
    public struct Skipped: Error, Sendable, Hashable, CustomStringConvertible {
        /// Failures in a row so far (the ones that opened it and every failed probe since).
        public var failures: Int
        /// When the next probe may go; `nil` while one is under way.
        public var retryAt: Date?

        public init(failures: Int, retryAt: Date?) {
            self.failures = failures
            self.retryAt = retryAt
        }

        public var description: String {
            "after \(failures) failures in a row (" + (retryAt.map { "retrying at \(Self.time($0)) UTC" } ?? "a trial call is under way") + ")"
        }

        /// `14:03:10`, in UTC, as the logs' times are.
        static func time(_ date: Date) -> String {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let parts = calendar.dateComponents([.hour, .minute, .second], from: date)
            func two(_ value: Int?) -> String { let text = String(value ?? 0); return text.count < 2 ? "0" + text : text }
            return "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))"
        }
    }

    /// Leave to make one call, given by ``permit()``; its end is reported with ``record(_:succeeded:)``
    /// or, when it ended without an answer either way (cancelled), ``abandon(_:)``.
    public struct Ticket: Sendable, Hashable {
        /// The state change it was issued after: a call that started before the breaker last changed
        /// state no longer counts.
        let generation: UInt64
        /// Whether it is the half-open breaker's one probe.
        public let isProbe: Bool
    }

    struct Machine {
        var state: State = .closed
        var failures = 0
        /// Openings since it was last closed (doubles the cool-down).
        var openings = 0
        var generation: UInt64 = 0
    }

    /// `service` and `target` label the metrics and logs (`assignment`, `dispatcher`).
    public let service: String
    public let target: String
    public let settings: Settings
    private let machine = Mutex(Machine())
    private let clock: @Sendable () -> Date
    private let logger: Logger
    private let openGauge: Gauge
    private let skippedCounter: Counter

    /// - Parameters:
    ///   - clock: The time now (tests pass a manual clock, so they need no sleeps).
    ///   - factory: Where the gauge and counter go; the process's metrics system unless given.
    public init(
        service: String, target: String, settings: Settings = Settings(), clock: @escaping @Sendable () -> Date = { Date() },
        factory: (any MetricsFactory)? = nil, logger: Logger
    ) {
        self.service = service
        self.target = target
        self.settings = settings
        self.clock = clock
        self.logger = logger
        let dimensions = [("service", service), ("target", target)]
        let factory = factory ?? MetricsSystem.factory
        openGauge = Gauge(label: "outside_call_circuit_open", dimensions: dimensions, factory: factory)
        skippedCounter = Counter(label: "outside_calls_skipped_total", dimensions: dimensions, factory: factory)
        openGauge.record(0)
    }

    /// The state now (an open breaker whose cool-down is over reads as half-open).
    public var state: State {
        let now = clock()
        return machine.withLock { machine in
            if case .open(let until) = machine.state, now >= until { return .halfOpen(probing: false) }
            return machine.state
        }
    }

    /// Leave to call now, or why not. A skipped call is counted; a half-open breaker lets one probe through.
    public func permit() -> Result<Ticket, Skipped> {
        let now = clock()
        let result: Result<Ticket, Skipped> = machine.withLock { machine in
            switch machine.state {
            case .closed:
                return .success(Ticket(generation: machine.generation, isProbe: false))
            case .open(let until) where now < until:
                return .failure(Skipped(failures: machine.failures, retryAt: until))
            case .open, .halfOpen(probing: false):
                machine.state = .halfOpen(probing: true)
                machine.generation += 1
                return .success(Ticket(generation: machine.generation, isProbe: true))
            case .halfOpen(probing: true):
                return .failure(Skipped(failures: machine.failures, retryAt: nil))
            }
        }
        if case .failure = result { skippedCounter.increment() }
        return result
    }

    /// Reports how the call made with `ticket` ended. Failures in a row open the breaker; a probe's
    /// success closes it and its failure opens it again for twice as long. A call that started before
    /// the breaker last changed state does not count.
    public func record(_ ticket: Ticket, succeeded: Bool) {
        let now = clock()
        enum Change { case opened(Date, reopened: Bool), closed }
        let change: (Change, failures: Int)? = machine.withLock { machine in
            guard ticket.generation == machine.generation else { return nil }
            switch machine.state {
            case .closed where succeeded:
                machine.failures = 0
                return nil
            case .closed:
                machine.failures += 1
                guard machine.failures >= settings.failureThreshold else { return nil }
            case .halfOpen where succeeded:
                let failures = machine.failures
                machine = Machine(state: .closed, failures: 0, openings: 0, generation: machine.generation + 1)
                return (.closed, failures)
            case .halfOpen:
                machine.failures += 1
            case .open:
                return nil
            }
            machine.openings += 1
            let until = now.addingTimeInterval(settings.coolDown(opening: machine.openings))
            machine.state = .open(until: until)
            machine.generation += 1
            return (.opened(until, reopened: machine.openings > 1), machine.failures)
        }
        guard let (what, failures) = change else { return }
        let metadata: Logger.Metadata = [
            "outside_call.service": "\(service)", "outside_call.target": "\(target)", "outside_call.failures": "\(failures)",
        ]
        switch what {
        case .opened(let until, let reopened):
            openGauge.record(1)
            if reopened {
                logger.debug("\(target) still failing; calls skipped until \(Skipped.time(until)) UTC", metadata: metadata)
            } else {
                logger.warning(
                    "\(target) failed \(failures) times in a row; calls to it are skipped until \(Skipped.time(until)) UTC, then tried once",
                    metadata: metadata)
            }
        case .closed:
            openGauge.record(0)
            logger.info("\(target) answers again; calls to it resume", metadata: metadata)
        }
    }

    /// Reports that the call made with `ticket` ended without telling whether the service works
    /// (the caller was cancelled): a probe's place goes to the next caller.
    public func abandon(_ ticket: Ticket) {
        machine.withLock { machine in
            if ticket.isProbe, ticket.generation == machine.generation, case .halfOpen(probing: true) = machine.state {
                machine.state = .halfOpen(probing: false)
            }
        }
    }

    /// Makes the call `body` unless the breaker is open, and records how it ended (`succeeded` judges
    /// its result; a call ended by cancellation is abandoned, not counted).
    public func call<Answer>(
        _ body: () async -> Answer, succeeded: (Answer) -> Bool
    ) async -> Result<Answer, Skipped> {
        await callJudging(body, judged: { succeeded($0) })
    }

    /// ``call(_:succeeded:)`` for a call whose result may tell nothing about the service: `judged` gives
    /// `nil` for such a result (a model's 409 for a question with the same key still in progress), which
    /// is abandoned like a cancelled call: it neither closes a half-open breaker nor ends a run of failures.
    public func callJudging<Answer>(
        _ body: () async -> Answer, judged: (Answer) -> Bool?
    ) async -> Result<Answer, Skipped> {
        switch permit() {
        case .failure(let skipped):
            return .failure(skipped)
        case .success(let ticket):
            let answer = await body()
            if Task.isCancelled {
                abandon(ticket)
            } else if let succeeded = judged(answer) {
                record(ticket, succeeded: succeeded)
            } else {
                abandon(ticket)
            }
            return .success(answer)
        }
    }
}
