import ComplaintStore
import Dispatch
import Testing

@Suite("Deadlines")
struct DeadlineTests {
    @Test("work done in time returns its result")
    func inTime() async throws {
        #expect(try await withDeadline(.seconds(5)) { 42 } == 42)
    }

    @Test("work that stops when cancelled throws DeadlineExceeded")
    func cancelled() async throws {
        await #expect(throws: DeadlineExceeded.self) {
            try await withDeadline(.milliseconds(50)) {
                try await Task.sleep(for: .seconds(30))
                return 1
            }
        }
    }

    /// PostgresNIO runs a query already sent to its end, COMMIT included: a transaction that
    /// committed after the deadline must not be reported as "no answer" (the client would repeat it).
    @Test("work that finishes after the deadline despite the cancellation returns its result")
    func finishedAnyway() async throws {
        let result = try await withDeadline(.milliseconds(50)) {
            // Ignores cancellation, as a query in flight does; ends well after the deadline.
            await withCheckedContinuation { continuation in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) { continuation.resume() }
            }
            return "committed"
        }
        #expect(result == "committed")
    }
}
