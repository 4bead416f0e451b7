import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Testing

/// The verdict's prepare step asks the dispatcher only when the complaint may be given to someone through
/// it, and an answer it did not ask for says why rather than that no dispatcher is configured.
@Suite("The dispatcher at prepare", .timeLimit(.minutes(2)))
struct DispatcherPrepareTests {
    static let a = AssignmentHarness.hotelA

    /// A loopback dispatcher that names Bo (HK-2) and counts its calls.
    static func withDispatcher(_ body: @Sendable (Assigner, DispatcherTests.Counter) async throws -> Void) async throws {
        let calls = DispatcherTests.Counter()
        let router = Router()
        router.post("/dispatch") { _, _ -> Response in
            await calls.increment()
            return DispatcherTests.json(#"{"staffId":"\#(Self.a)-HK-2","reason":"nearest"}"#)
        }
        try await withLoopbackServer(router) { base in
            let dispatcher = DispatcherClient(
                settings: DispatcherSettings(url: base + "/dispatch", timeoutMilliseconds: 10_000), logger: Logger(label: "dispatcher-prepare-tests"))
            try await body(Assigner(dispatcher: dispatcher), calls)
        }
    }

    static func organisation(housekeeping strategy: String) -> Organisation {
        ReopenedReassignmentTests.organisation(housekeeping: strategy)
    }

    /// Before: prepare returned nil (housekeeping was not on http then), which the strategy reads as
    /// "no dispatcher is configured", with one configured.
    @Test("housekeeping switched to http between prepare and the transaction: 'the dispatcher was not asked (…)', not 'no dispatcher is configured'")
    func notAskedIsNotUnconfigured() async throws {
        try await Self.withDispatcher { assigner, calls in
            try await ReclassificationTests.withHandlers(organisation: Self.organisation(housekeeping: LeastLoadedStrategy.name), assigner: assigner) {
                store, schema, _, classified in
                let event = try AssignmentHarness.classified(category: .cleanliness)
                let answer = try await classified.prepare(event, context: PreparationContext(logger: .complaintTest, store: store))
                #expect(await calls.value == 0)
                _ = try await store.write { connection, logger in
                    (try await OrganisationStore().apply(Self.organisation(housekeeping: DispatcherStrategy.name), on: connection, logger: logger), [])
                }
                let events = try await store.write { connection, logger in
                    let events = try await classified.handle(event, prepared: answer, context: HandlerContext(
                        logger: logger, connection: connection, origin: MessageOrigin(topic: "test", partition: 0, offset: 0), attempt: 1,
                        workQueue: WorkQueue(schema: schema)))
                    return (events, events)
                }
                let explanation = try ReclassificationTests.assigned(events).first?.data.explanation ?? ""
                #expect(explanation.hasPrefix("the dispatcher was not asked (Housekeeping was not on http when the complaint was prepared); least loaded"), "\(explanation)")
                #expect(!explanation.contains("no dispatcher is configured"), "\(explanation)")
            }
        }
    }

    /// Before: the same verdict again, and a newer one keeping the department of an acknowledged
    /// complaint, each cost a call to the dispatcher whose answer nothing used.
    @Test("a repeated verdict, or one that leaves the owner their complaint, is not sent to the dispatcher")
    func ownedComplaintNotSent() async throws {
        try await Self.withDispatcher { assigner, calls in
            try await ReclassificationTests.withHandlers(organisation: Self.organisation(housekeeping: DispatcherStrategy.name), assigner: assigner) {
                store, schema, status, classified in
                let id = UUID()
                let verdict = try ReclassificationTests.verdict(id, .cleanliness, at: ReclassificationTests.t1)
                let first = try ReclassificationTests.assigned(try await handleDirectly(verdict, with: classified, store: store, schema: schema))
                #expect(first.first?.data.assignee.staffID == "\(Self.a)-HK-2", "\(first.map(\.data.explanation))")
                #expect(await calls.value == 1)
                var repeated = verdict
                repeated.id = UUID()
                #expect(try await handleDirectly(repeated, with: classified, store: store, schema: schema).isEmpty)
                _ = try await handleDirectly(ReclassificationTests.acknowledged(id, by: "\(Self.a)-HK-2"), with: status, store: store, schema: schema)
                #expect(try await handleDirectly(
                    try ReclassificationTests.verdict(id, .amenities, at: ReclassificationTests.t2), with: classified, store: store, schema: schema
                ).isEmpty)
                #expect(await calls.value == 1)
                // A complaint without an owner still is.
                _ = try await handleDirectly(try AssignmentHarness.classified(category: .cleanliness), with: classified, store: store, schema: schema)
                #expect(await calls.value == 2)
            }
        }
    }
}
