import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// The database rules that keep replicas honest, with the handler run directly on concurrent transactions.
@Suite("Assignment across replicas and restarts", .timeLimit(.minutes(2)))
struct ReplicaTests {
    static func withSchema(_ body: @Sendable (StageStore, SchemaName) async throws -> Void) async throws {
        let service = RedressService.assignment.isolated()
        try await withMigratedSchema(of: service) { store, _ in try await body(store, service.schema) }
    }

    static func deliver(
        _ event: EventEnvelope<ComplaintClassified>, to handler: ClassifiedAssignmentHandler, store: StageStore, schema: SchemaName
    ) async throws -> [OutgoingEvent] {
        try await handleDirectly(event, with: handler, store: store, schema: schema)
    }

    @Test("two replicas given one complaint under different event ids assign it once; concurrent complaints never exceed capacity")
    func concurrentReplicas() async throws {
        try await Self.withSchema { store, schema in
            _ = try await store.write { connection, logger in
                (try await OrganisationStore().apply(AssignmentHarness.organisation, on: connection, logger: logger), [])
            }
            // Separate handlers, as in two processes (separate caches).
            let replicas = [ClassifiedAssignmentHandler(assigner: Assigner()), ClassifiedAssignmentHandler(assigner: Assigner())]
            let complaintID = UUID()
            let published = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<8 {
                    let event = try AssignmentHarness.classified(complaintID: complaintID)
                    group.addTask { try await Self.deliver(event, to: replicas[index % 2], store: store, schema: schema).count }
                }
                return try await group.reduce(0, +)
            }
            #expect(published == 1)

            // Twelve complaints at once: housekeeping holds 2 + 2 + 2; the rest fall back to the duty manager.
            let owners = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<12 {
                    let event = try AssignmentHarness.classified()
                    group.addTask {
                        let events = try await Self.deliver(event, to: replicas[index % 2], store: store, schema: schema)
                        return events.first.map { String(decoding: $0.row.value.readableBytesView, as: UTF8.self) } ?? ""
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(owners.allSatisfy { !$0.isEmpty })
            let loads = try await store.read { connection, logger in
                try await AssignmentLedger().openLoads(hotelID: AssignmentHarness.hotelA, on: connection, logger: logger)
            }
            let a = AssignmentHarness.hotelA
            #expect(loads["\(a)-HK-1"] == 2 && loads["\(a)-HK-2"] == 2 && loads["\(a)-HK-H"] == 2)
            #expect(loads["\(a)-DM-1"] == 7)
            let rows = try await store.read { connection, logger in
                try await connection.query("SELECT count(*)::int FROM assignments", logger: logger).collect()[0].decode(Int.self)
            }
            #expect(rows == 13)
        }
    }

    @Test("the file wins for a hotel whose section changed; otherwise what the API changed is kept")
    func fileReapplication() async throws {
        try await Self.withSchema { store, _ in
            let organisations = OrganisationStore()
            func apply(_ organisation: Organisation) async throws -> OrganisationStore.FileApplication {
                try await store.write { connection, logger in (try await organisations.apply(organisation, on: connection, logger: logger), []) }
            }
            func staffCount(_ hotel: String) async throws -> Int {
                try await store.read { connection, logger in
                    try await organisations.read(hotel, on: connection, logger: logger)?.staff.count ?? -1
                }
            }
            let file = AssignmentHarness.organisation
            let a = AssignmentHarness.hotelA, b = AssignmentHarness.hotelB
            #expect(try await apply(file) == .init(applied: [a, b], unchanged: []))
            #expect(try await apply(file) == .init(applied: [], unchanged: [a, b]))
            // The API adds someone to A; a restart with the same file keeps them.
            try await store.write { connection, logger in
                try await organisations.save(
                    StaffMember(id: "API-1", name: "Added", role: .agent, departments: ["housekeeping"], capacity: 1),
                    hotelID: a, on: connection, logger: logger)
                return ((), [])
            }
            #expect(try await apply(file) == .init(applied: [], unchanged: [a, b]))
            #expect(try await staffCount(a) == 6)
            // The file changes for A: A is replaced by the file, B is left alone.
            var changed = file
            changed.hotels[0].staff[0].capacity = 5
            #expect(try await apply(changed) == .init(applied: [a], unchanged: [b]))
            #expect(try await staffCount(a) == 5)
            let capacity = try await store.read { connection, logger in
                try await organisations.read(a, on: connection, logger: logger)?.member("\(a)-HK-1")?.capacity
            }
            #expect(capacity == 5)
        }
    }
}
