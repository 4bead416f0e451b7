import ComplaintTesting
import Synchronization
import Testing

/// The tests' `eventually` in a cancelled task: its sleep returned at once, so it ran its condition
/// in a tight loop until the deadline, a whole core for up to a minute (a stage shutting down with a
/// hook still waiting, a body cut off by `withTimeout`).
@Suite("eventually", .timeLimit(.minutes(1)))
struct EventuallyTests {
    @Test("a cancelled wait stops at once with the condition's last answer, instead of asking it in a loop until its deadline")
    func cancelledWaitStops() async {
        let asked = Mutex(0)
        let waiting = Task {
            await eventually(timeout: .seconds(10)) {
                asked.withLock { $0 += 1 }
                return false
            }
        }
        waiting.cancel()
        #expect(await waiting.value == false)
        // Without cancellation it would ask about every 50 ms: 200 times in its 10 s.
        #expect(asked.withLock { $0 } <= 2, "asked \(asked.withLock { $0 }) times")
    }
}
