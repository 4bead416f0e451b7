import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

/// A dispatcher that is down costs the first complaints their failed calls, then none: the breaker
/// skips it and the fallback assigns at once, until one trial call after the cool-down finds it back.
@Suite("The dispatcher's circuit breaker", .timeLimit(.minutes(2)))
struct DispatcherBreakerTests {
    static let a = AssignmentHarness.hotelA

    /// The harness's hotels, hotel A on strategy `http`, with room for every complaint of the test.
    static var organisation: Organisation {
        var organisation = AssignmentHarness.organisation
        organisation.hotels[0].strategy = DispatcherStrategy.name
        for index in organisation.hotels[0].staff.indices { organisation.hotels[0].staff[index].capacity = 50 }
        return organisation
    }

    /// Before: every complaint asked the dead dispatcher (ten requests for ten complaints), each waiting
    /// its whole timeout when it hangs.
    @Test("after five failures in a row the dispatcher is not asked and the fallback says why; after the cool-down one probe closes it")
    func skipsThenProbes() async throws {
        let requests = Mutex(0)
        let up = Mutex(false)
        let router = Router()
        router.post("/assign") { _, _ -> Response in
            requests.withLock { $0 += 1 }
            guard up.withLock({ $0 }) else { return Response(status: .internalServerError) }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"staffId":"\#(Self.a)-HK-2","reason":"back"}"#)))
        }
        let time = ManualTime()
        try await withLoopbackServer(router) { base in
            let service = RedressService.assignment.isolated()
            try await withMigratedSchema(of: service) { store, _ in
                _ = try await store.write { connection, logger in
                    (try await OrganisationStore().apply(Self.organisation, on: connection, logger: logger), [])
                }
                let logger = Logger(label: "dispatcher-breaker-tests")
                let breaker = CircuitBreaker(service: "assignment", target: "dispatcher", clock: time.clock, logger: logger)
                let dispatcher = DispatcherClient(
                    settings: DispatcherSettings(url: base + "/assign", timeoutMilliseconds: 10_000), breaker: breaker, logger: logger)
                let handler = ClassifiedAssignmentHandler(assigner: Assigner(dispatcher: dispatcher))
                func assign() async throws -> ComplaintAssigned {
                    let events = try await handleDirectly(try AssignmentHarness.classified(), with: handler, store: store, schema: service.schema)
                    let event = try #require(events.first)
                    return try Topics.assigned.decode(Array(event.row.value.readableBytesView)).data
                }

                for _ in 0..<5 {
                    let assigned = try await assign()
                    #expect(assigned.strategy == LeastLoadedStrategy.name)
                    #expect(assigned.explanation?.hasPrefix("the dispatcher failed (HTTP 500); least loaded") == true, "\(assigned.explanation ?? "")")
                }
                #expect(requests.withLock { $0 } == 5)
                for _ in 0..<5 {
                    let assigned = try await assign()
                    #expect(assigned.strategy == LeastLoadedStrategy.name)
                    #expect(
                        assigned.explanation?.hasPrefix("the dispatcher is skipped after 5 failures in a row (retrying at 14:03:10 UTC); least loaded of 3 on duty in Housekeeping")
                            == true, "\(assigned.explanation ?? "")")
                }
                #expect(requests.withLock { $0 } == 5, "the dispatcher was asked while the breaker was open")

                // The cool-down is over and the dispatcher is back: one probe, then every complaint asks again.
                time.advance(30)
                up.withLock { $0 = true }
                let probed = try await assign()
                #expect(probed.strategy == DispatcherStrategy.name)
                #expect(probed.assignee.staffID == "\(Self.a)-HK-2")
                #expect(breaker.state == .closed)
                let next = try await assign()
                #expect(next.strategy == DispatcherStrategy.name)
                #expect(requests.withLock { $0 } == 7)
            }
        }
    }
}
