import ComplaintStore
import Dispatch
import Synchronization
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

    /// Work that cancellation cannot stop, ended by whoever calls ``resume(by:)`` first: the
    /// deadline's step, or a fallback after 10 s should that step never come.
    final class Held: Sendable {
        private let state = Mutex<(by: String?, waiter: CheckedContinuation<String, Never>?, cancelled: Bool)>((nil, nil, false))
        var releasedBy: String? { state.withLock { $0.by } }
        var cancelled: Bool { state.withLock { $0.cancelled } }

        /// Waits for ``resume(by:)``, noting a cancellation without ending the wait.
        func wait() async -> String {
            DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(10)) { self.resume(by: "the fallback") }
            return await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let by = state.withLock { state -> String? in
                        if state.by == nil { state.waiter = continuation }
                        return state.by
                    }
                    if let by { continuation.resume(returning: by) }
                }
            } onCancel: {
                state.withLock { $0.cancelled = true }
            }
        }

        func resume(by: String) {
            let waiter = state.withLock { state -> CheckedContinuation<String, Never>? in
                guard state.by == nil else { return nil }
                state.by = by
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: by)
        }
    }

    /// A query already sent cannot be cancelled: `onDeadline` closing its connection is what ends it.
    @Test("onDeadline runs once at the deadline, after the cancellation, and ends work that would not stop: its result is returned")
    func onDeadlineReleases() async throws {
        let held = Held()
        let calls = Mutex(0)
        let cancelledFirst = Mutex(false)
        let started = ContinuousClock.now
        let result = try await withDeadline(.milliseconds(50), onDeadline: {
            calls.withLock { $0 += 1 }
            cancelledFirst.withLock { $0 = held.cancelled }
            held.resume(by: "onDeadline")
        }) {
            await held.wait()
        }
        let took = ContinuousClock.now - started
        #expect(result == "onDeadline", "took \(took)")
        #expect(calls.withLock { $0 } == 1)
        #expect(cancelledFirst.withLock { $0 }, "onDeadline ran before the work was cancelled")
    }

    @Test("work that onDeadline makes fail (a closed connection) throws DeadlineExceeded")
    func onDeadlineFails() async throws {
        struct ConnectionClosed: Error {}
        let held = Held()
        let calls = Mutex(0)
        await #expect(throws: DeadlineExceeded.self) {
            try await withDeadline(.milliseconds(50), onDeadline: {
                calls.withLock { $0 += 1 }
                held.resume(by: "onDeadline")
            }) {
                _ = await held.wait()
                throw ConnectionClosed()
            }
        }
        #expect(held.releasedBy == "onDeadline")
        #expect(calls.withLock { $0 } == 1)
    }

    @Test("onDeadline does not run when the work ends in time, with a result or an error")
    func onDeadlineOnlyAtTheDeadline() async throws {
        struct Failed: Error {}
        let calls = Mutex(0)
        let count: @Sendable () async -> Void = { calls.withLock { $0 += 1 } }
        #expect(try await withDeadline(.seconds(5), onDeadline: count) { 42 } == 42)
        await #expect(throws: Failed.self) {
            try await withDeadline(.seconds(5), onDeadline: count) { () async throws -> Int in throw Failed() }
        }
        #expect(calls.withLock { $0 } == 0)
    }
}
