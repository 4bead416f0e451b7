@testable import ComplaintMetrics
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
import Logging
import PostgresNIO
import Testing

/// A complaint assignment moves to another department while its owner keeps it (`department_changed`,
/// a reclassification after it was acknowledged), recorded straight into a metrics schema.
@Suite("Metrics of a complaint moved to another department", .timeLimit(.minutes(2)))
struct DepartmentMoveTests {
    /// Before assignment published the move, the per-department KPIs counted such a complaint under the
    /// department it was first sent to until an escalation (if any) named the new one.
    @Test("from the move on it counts under the new department, whatever order the assignments are read in, and stays acknowledged")
    func countsUnderTheNewDepartment() async throws {
        try await withMigratedSchema(of: RedressService.metrics.isolated()) { store, _ in
            let recorder = FactRecorder(schema: store.schema.rawValue)
            let now = Date()
            var received = try EventFixtures.received()
            received.data.registeredAt = now.addingTimeInterval(-600)
            let id = received.data.complaintID, hotel = received.data.hotelID
            var initial = try EventFixtures.assigned(complaintID: id)
            initial.hotelID = hotel
            initial.data.department = "housekeeping"
            initial.data.assignedAt = now.addingTimeInterval(-590)
            initial.data.registeredAt = received.data.registeredAt
            let acknowledged = EventEnvelope(
                source: "/redress/intake", time: now.addingTimeInterval(-500), hotelID: hotel,
                data: ComplaintUpdated(
                    complaintID: id, change: .acknowledged, occurredAt: now.addingTimeInterval(-500),
                    actor: EventActor(id: initial.data.assignee.staffID, role: .staff), statusAfter: .acknowledged))
            var move = initial
            move.id = UUID()
            move.data.department = "engineering"
            move.data.assignedAt = now.addingTimeInterval(-400)
            move.data.reason = .departmentChanged
            move.data.strategy = "owner_kept"

            // The move read before the first assignment (a replay, a late read): the newest still holds.
            try await store.write { [received, initial, move] connection, logger in
                try await recorder.received(received, on: connection, logger: logger)
                try await recorder.updated(acknowledged, on: connection, logger: logger)
                try await recorder.assigned(move, on: connection, logger: logger)
                try await recorder.assigned(initial, on: connection, logger: logger)
                return ((), [])
            }
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = .gmt
            let today = LocalDate(utc.dateComponents([.year, .month, .day], from: now))
            let settings = MetricsSettings(hotels: [MetricsSettings.Hotel(id: hotel)])
            let query = KPIQuery(
                hotels: [settings.hotel(hotel)], from: LocalDate(utc.dateComponents([.year, .month, .day], from: received.data.registeredAt)),
                to: today, groupBy: .department)
            let report = try await store.read { connection, logger in
                try await KPIStore(settings: settings).report(query, now: now, on: connection, logger: logger)
            }
            #expect(report.groups.map(\.key) == ["engineering"], "\(report.groups.map(\.key))")
            #expect(report.groups.first?.volume == 1)
            let status = try await store.read { connection, logger in
                try await connection.query("SELECT status FROM complaints WHERE complaint_id = \(id)", logger: logger)
                    .collect().first?.decode(String.self)
            }
            #expect(status == ComplaintStatus.acknowledged.rawValue, "the move does not make an acknowledged complaint look merely assigned")
        }
    }
}
