import Foundation
import NIOConcurrencyHelpers

/// The lease of the work item the current task performs (set by ``WorkQueueWorker`` around
/// ``WorkPerformer/perform(_:logger:)``): how long the call may still take before another worker may
/// claim the item and make it again.
///
/// A call to the outside world asks ``beforeCall(taking:after:_:)`` first, with the longest it can take: when
/// less than that (and ``margin``, to record the outcome) is left — the claim waited for the database,
/// a look-up before the call was slow, the database paused for minutes and came back — the call is not
/// made, and the worker defers the item (no attempt used): before, it was made after another worker had
/// re-claimed the item and made it too (an e-mail or a webhook sent twice). What a call needs is capped at
/// nine tenths of a whole lease, so that a call right after a claim always goes: a call whose bound does
/// not fit the lease (an endpoint's `timeoutSeconds` set above the lease allows) would otherwise be deferred
/// for ever, and is made as before. Outside a worker (tests, a one-off call) there is no lease and every
/// call goes.
public struct WorkLease: Sendable {
    /// When the lease ends on this process's clock: the claim's start plus the lease, so never later than
    /// the database's `leased_until` (set when the claim ran), whatever the difference between the clocks.
    public let deadline: ContinuousClock.Instant
    /// What a call must leave of the lease besides its own bound: the time to record its outcome.
    public let margin: Duration
    /// How long the whole lease is.
    public let duration: Duration
    private let refusal = NIOLockedValueBox<String?>(nil)

    public init(deadline: ContinuousClock.Instant, margin: Duration, duration: Duration) {
        self.deadline = deadline
        self.margin = margin
        self.duration = duration
    }

    /// The lease of the item this task performs, if any.
    @TaskLocal public static var current: WorkLease?

    /// How much of the lease is left.
    public var remaining: Duration { deadline - .now }

    /// Why a call was refused for the lease, if one was: the worker then defers the item whatever the
    /// performer made of the refusal (a channel may wrap it as a transient failure).
    public var refused: String? { refusal.withLockedValue { $0 } }

    /// Throws ``WorkLeaseRunningOut`` (and remembers it for the worker) when the current task's lease
    /// leaves less than `budget`, the longest the call `call` may take, plus ``margin`` (at most nine
    /// tenths of ``duration``), plus `steps`.
    ///
    /// - Parameter steps: The longest of what must still happen before the call, when asked ahead of it: a
    ///   step that records the call before making it (a held guest message's `called_at`) asks first with
    ///   its own bound here, so that the call's own check, after it, cannot refuse a call already recorded
    ///   as made. With them, at most nineteen twentieths of ``duration``: a call right after a claim still goes.
    public static func beforeCall(taking budget: Duration, after steps: Duration = .zero, _ call: @autoclosure () -> String) throws {
        guard let lease = current else { return }
        let left = lease.remaining
        var needed = min(budget + lease.margin, lease.duration * 9 / 10)
        if steps > .zero { needed = min(needed + steps, lease.duration * 19 / 20) }
        guard left < needed else { return }
        let refusal = WorkLeaseRunningOut(call: call(), left: left, needed: needed)
        lease.refusal.withLockedValue { $0 = $0 ?? refusal.description }
        throw refusal
    }
}

/// A call to the outside world not made because the work item's lease would run out before it could end
/// (``WorkLease/beforeCall(taking:after:_:)``).
public struct WorkLeaseRunningOut: Error, Sendable, CustomStringConvertible {
    public var call: String
    public var left: Duration
    public var needed: Duration
    public var description: String {
        "[lease_running_out] \(call) not made: \(Self.seconds(left)) s of the work lease left, it needs \(Self.seconds(needed)) s; again on a fresh lease"
    }

    private static func seconds(_ duration: Duration) -> String {
        String(format: "%.1f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}
