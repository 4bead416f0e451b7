import Foundation
import Synchronization

/// A wall clock that moves only when a test says so, for code that takes `@Sendable () -> Date` (a
/// circuit breaker's cool-down): the test advances it instead of sleeping.
public final class ManualTime: Sendable {
    private let now: Mutex<Date>

    /// Starts at `start` (by default 2026-12-05 14:02:40 UTC).
    public init(_ start: Date = Date(timeIntervalSince1970: 1_796_479_360)) {
        now = Mutex(start)
    }

    /// The time now.
    public var date: Date { now.withLock { $0 } }

    /// The clock to hand to the code under test.
    public var clock: @Sendable () -> Date { { self.date } }

    /// Moves the clock on by `seconds`.
    public func advance(_ seconds: TimeInterval) { now.withLock { $0 += seconds } }
}
