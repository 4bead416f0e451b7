@testable import ComplaintMetrics
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Testing

/// The open deadlines `/v1/open` and the dashboard count down to (`resolve_by`, `acknowledge_by`), recorded
/// straight into a metrics schema from the watcher's deadline events and the staff's reopenings.
@Suite("metrics open deadlines", .timeLimit(.minutes(2)))
struct OpenDeadlineTests {
    /// One complaint's events, applied in the order a test gives them.
    struct Complaint {
        let id = UUID()
        let hotel = "SHA-PD01"
        let registeredAt: Date

        func received() throws -> EventEnvelope<ComplaintReceived> {
            var received = try EventFixtures.received(complaintID: id)
            received.hotelID = hotel
            received.data.hotelID = hotel
            received.data.registeredAt = registeredAt
            received.data.reportedAt = registeredAt
            received.data.occurredAt = nil
            received.data.guest.guestKey = nil
            received.time = registeredAt
            return received
        }

        func staff(_ change: ComplaintUpdated.Change, at: Date, status: ComplaintStatus) -> EventEnvelope<ComplaintUpdated> {
            EventEnvelope(
                source: "/redress/intake", time: at, hotelID: hotel,
                data: ComplaintUpdated(complaintID: id, change: change, occurredAt: at, actor: EventActor(id: "staff-1", role: .staff), statusAfter: status))
        }

        func clock(_ milestone: ComplaintSLAEvent.Milestone, at: Date, resolveBy: Date?) -> EventEnvelope<ComplaintSLAEvent> {
            EventEnvelope(
                source: "/redress/sla-watcher", time: at, hotelID: hotel,
                data: ComplaintSLAEvent(
                    complaintID: id, milestone: milestone, target: .resolve, severity: .moderate, deadline: resolveBy ?? at, occurredAt: at,
                    resolveBy: resolveBy))
        }
    }

    static let reopening = ComplaintUpdated.Change.reopened(Reopening(trigger: .guestRequest, reason: "the tap drips again"))

    /// What `/v1/open` lists as the complaint's resolve deadline (`nil` when not listed or unknown).
    static func resolveBy(_ complaint: Complaint, _ store: StageStore) async throws -> Date? {
        let entries = try await store.read { connection, logger in
            try await OpenComplaints.read(hotels: [complaint.hotel], on: connection, logger: logger)
        }
        let entry = try #require(entries.first { $0.complaintId == complaint.id }, "the complaint is listed as open")
        return entry.resolveBy
    }

    /// Before: the reopening only counted (`reopen_count`), so the first clock's deadline, passed days ago,
    /// stayed in `/v1/open` and the dashboard showed "overdue 3d" while the watcher's new clock ran.
    @Test("a reopening clears the first clock's resolve deadline until the watcher publishes the new one, in either topic's order")
    func reopeningClearsTheResolveDeadline() async throws {
        try await withMigratedSchema(of: RedressService.metrics.isolated()) { store, _ in
            let recorder = FactRecorder(schema: store.schema.rawValue)
            let r = Date(timeIntervalSince1970: 1_794_000_000)
            let complaint = Complaint(registeredAt: r)
            let hour: TimeInterval = 3600
            let started = complaint.clock(.timerStarted, at: r.addingTimeInterval(60), resolveBy: r.addingTimeInterval(4 * hour))
            let reopenedAt = r.addingTimeInterval(72 * hour)
            let reopened = complaint.staff(Self.reopening, at: reopenedAt, status: .reopened)
            let newDeadline = reopenedAt.addingTimeInterval(4 * hour)
            // As the watcher publishes it on a reopening: stamped with the reopening's time.
            let rescheduled = complaint.clock(.rescheduled, at: reopenedAt, resolveBy: newDeadline)
            let received = try complaint.received()
            try await store.write { connection, logger in
                try await recorder.received(received, on: connection, logger: logger)
                try await recorder.sla(started, on: connection, logger: logger)
                try await recorder.updated(complaint.staff(.acknowledged, at: r.addingTimeInterval(600), status: .acknowledged), on: connection, logger: logger)
                try await recorder.updated(
                    complaint.staff(.resolved(Resolution(text: "fixed", rootCause: "wear", isFirstContact: true)), at: r.addingTimeInterval(hour), status: .resolved),
                    on: connection, logger: logger)
                try await recorder.updated(reopened, on: connection, logger: logger)
                return ((), [])
            }
            #expect(try await Self.resolveBy(complaint, store) == nil, "not the first clock's \(r.addingTimeInterval(4 * hour))")
            try await store.write { connection, logger in
                try await recorder.sla(rescheduled, on: connection, logger: logger)
                return ((), [])
            }
            #expect(try await Self.resolveBy(complaint, store) == newDeadline)

            // The SLA topic read ahead: the new clock's deadline, then the reopening, which keeps it.
            let ahead = Complaint(registeredAt: r)
            let aheadReopened = ahead.staff(Self.reopening, at: reopenedAt, status: .reopened)
            let aheadReceived = try ahead.received()
            try await store.write { connection, logger in
                try await recorder.received(aheadReceived, on: connection, logger: logger)
                try await recorder.sla(ahead.clock(.timerStarted, at: r.addingTimeInterval(60), resolveBy: r.addingTimeInterval(4 * hour)), on: connection, logger: logger)
                try await recorder.sla(ahead.clock(.rescheduled, at: reopenedAt, resolveBy: newDeadline), on: connection, logger: logger)
                try await recorder.updated(aheadReopened, on: connection, logger: logger)
                return ((), [])
            }
            #expect(try await Self.resolveBy(ahead, store) == newDeadline)

            // The updates topic read ahead (a rebuild reads the topics side by side): the reopening, then the
            // first clock's timer_started, which is an earlier clock's and sets nothing.
            let behind = Complaint(registeredAt: r)
            let behindReopened = behind.staff(Self.reopening, at: reopenedAt, status: .reopened)
            let behindReceived = try behind.received()
            try await store.write { connection, logger in
                try await recorder.received(behindReceived, on: connection, logger: logger)
                try await recorder.updated(behindReopened, on: connection, logger: logger)
                try await recorder.sla(behind.clock(.timerStarted, at: r.addingTimeInterval(60), resolveBy: r.addingTimeInterval(4 * hour)), on: connection, logger: logger)
                return ((), [])
            }
            #expect(try await Self.resolveBy(behind, store) == nil)
        }
    }

    /// Before: a deadline event was kept only when its stamp was newer, but the watcher stamps
    /// `rescheduled` with its processing time and `paused`/`resumed` with the staff action's; a lagging
    /// watcher's pause was dropped and a complaint on hold counted down to "overdue".
    @Test("the last deadline event the watcher published wins, whatever the clocks stamped on them")
    func lastDeadlineEventWins() async throws {
        try await withMigratedSchema(of: RedressService.metrics.isolated()) { store, _ in
            let recorder = FactRecorder(schema: store.schema.rawValue)
            let t = Date(timeIntervalSince1970: 1_794_000_000)
            let complaint = Complaint(registeredAt: t)
            let first = t.addingTimeInterval(4 * 3600), moved = t.addingTimeInterval(2 * 3600), resumedBy = t.addingTimeInterval(3 * 3600)
            let received = try complaint.received()
            try await store.write { connection, logger in
                try await recorder.received(received, on: connection, logger: logger)
                try await recorder.sla(complaint.clock(.timerStarted, at: t.addingTimeInterval(60), resolveBy: first), on: connection, logger: logger)
                // Reclassified; the watcher, behind, publishes the new deadlines at 12 min, then the pause staff made at 5 min.
                try await recorder.sla(complaint.clock(.rescheduled, at: t.addingTimeInterval(12 * 60), resolveBy: moved), on: connection, logger: logger)
                try await recorder.sla(complaint.clock(.paused, at: t.addingTimeInterval(5 * 60), resolveBy: moved), on: connection, logger: logger)
                return ((), [])
            }
            #expect(try await Self.resolveBy(complaint, store) == nil, "on hold: no countdown")
            try await store.write { connection, logger in
                // The guest answered at 8 min: the clock runs again.
                try await recorder.sla(complaint.clock(.resumed, at: t.addingTimeInterval(8 * 60), resolveBy: resumedBy), on: connection, logger: logger)
                return ((), [])
            }
            #expect(try await Self.resolveBy(complaint, store) == resumedBy)
        }
    }
}
