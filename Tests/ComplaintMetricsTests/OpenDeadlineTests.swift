@testable import ComplaintMetrics
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import Testing

/// The open deadlines `/v1/open` and the dashboard count down to (`resolve_by`, `acknowledge_by`), recorded
/// straight into a metrics schema from the watcher's deadline events and the staff's reopenings.
@Suite("metrics open deadlines", .timeLimit(.minutes(2)))
struct OpenDeadlineTests {
    /// One complaint's events, applied in the order a test gives them.
    /// A complaint's registration (the harness's ``ComplaintStory``) and the staff actions and clock events
    /// these tests feed the recorder one by one.
    struct Complaint {
        let story: ComplaintStory
        var id: UUID { story.id }
        var hotel: String { story.hotel }

        init(registeredAt: Date) throws {
            story = try ComplaintStory(hotel: "SHA-PD01", registeredAt: registeredAt)
        }

        func received() throws -> EventEnvelope<ComplaintReceived> {
            try #require(story.received.first)
        }

        func staff(_ change: ComplaintUpdated.Change, at: Date, status: ComplaintStatus) -> EventEnvelope<ComplaintUpdated> {
            EventEnvelope(
                source: "/redress/intake", time: at, hotelID: hotel,
                data: ComplaintUpdated(complaintID: id, change: change, occurredAt: at, actor: EventActor(id: "staff-1", role: .staff), statusAfter: status))
        }

        func clock(_ milestone: ComplaintSLAEvent.Milestone, at: Date, resolveBy: Date?, acknowledgeBy: Date? = nil) -> EventEnvelope<ComplaintSLAEvent> {
            EventEnvelope(
                source: "/redress/sla-watcher", time: at, hotelID: hotel,
                data: ComplaintSLAEvent(
                    complaintID: id, milestone: milestone, target: .resolve, severity: .moderate, deadline: resolveBy ?? at, occurredAt: at,
                    acknowledgeBy: acknowledgeBy, resolveBy: resolveBy))
        }
    }

    static let reopening = ComplaintUpdated.Change.reopened(Reopening(trigger: .guestRequest, reason: "the tap drips again"))

    /// What `/v1/open` lists as the complaint's resolve deadline (`nil` when not listed or unknown).
    static func resolveBy(_ complaint: Complaint, _ store: StageStore) async throws -> Date? {
        try await entry(complaint, store).resolveBy
    }

    /// What `/v1/open` lists for the complaint.
    static func entry(_ complaint: Complaint, _ store: StageStore) async throws -> OpenComplaints.Entry {
        let entries = try await store.read { connection, logger in
            try await OpenComplaints.read(hotels: [complaint.hotel], on: connection, logger: logger)
        }
        return try #require(entries.first { $0.complaintId == complaint.id }, "the complaint is listed as open")
    }

    /// Before: the reopening only counted (`reopen_count`), so the first clock's deadline, passed days ago,
    /// stayed in `/v1/open` and the dashboard showed "overdue 3d" while the watcher's new clock ran.
    @Test("a reopening clears the first clock's resolve deadline until the watcher publishes the new one, in either topic's order")
    func reopeningClearsTheResolveDeadline() async throws {
        try await withMigratedSchema(of: RedressService.metrics.isolated()) { store, _ in
            let recorder = FactRecorder(schema: store.schema.rawValue)
            let r = Date(timeIntervalSince1970: 1_794_000_000)
            let complaint = try Complaint(registeredAt: r)
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
            let ahead = try Complaint(registeredAt: r)
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
            let behind = try Complaint(registeredAt: r)
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
            let complaint = try Complaint(registeredAt: t)
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

    /// Before: a reopening cleared only `resolve_by`. A complaint resolved at first contact without an
    /// acknowledgement and reopened 3 days later kept its first clock's acknowledge deadline, so `/v1/open`
    /// listed it "acknowledge overdue 3d" at the top, though a reopened clock has no acknowledge deadline
    /// (the watcher's `rescheduled` on the reopening carries none).
    @Test("a reopening clears the first clock's acknowledge deadline too, in either topic's order")
    func reopeningClearsTheAcknowledgeDeadline() async throws {
        try await withMigratedSchema(of: RedressService.metrics.isolated()) { store, _ in
            let recorder = FactRecorder(schema: store.schema.rawValue)
            let r = Date(timeIntervalSince1970: 1_794_000_000)
            let hour: TimeInterval = 3600
            let acknowledgeBy = r.addingTimeInterval(15 * 60), firstResolveBy = r.addingTimeInterval(4 * hour)
            let reopenedAt = r.addingTimeInterval(72 * hour), newDeadline = reopenedAt.addingTimeInterval(4 * hour)
            let resolution = ComplaintUpdated.Change.resolved(Resolution(text: "fixed", rootCause: "wear", isFirstContact: true))

            let complaint = try Complaint(registeredAt: r)
            let received = try complaint.received()
            try await store.write { connection, logger in
                try await recorder.received(received, on: connection, logger: logger)
                try await recorder.sla(
                    complaint.clock(.timerStarted, at: r.addingTimeInterval(60), resolveBy: firstResolveBy, acknowledgeBy: acknowledgeBy),
                    on: connection, logger: logger)
                // Never acknowledged: resolved at first contact.
                try await recorder.updated(complaint.staff(resolution, at: r.addingTimeInterval(600), status: .resolved), on: connection, logger: logger)
                try await recorder.updated(complaint.staff(Self.reopening, at: reopenedAt, status: .reopened), on: connection, logger: logger)
                return ((), [])
            }
            let reopened = try await Self.entry(complaint, store)
            #expect(reopened.acknowledgedAt == nil)
            #expect(reopened.acknowledgeBy == nil, "not the first clock's \(acknowledgeBy)")
            #expect(reopened.resolveBy == nil)
            try await store.write { connection, logger in
                try await recorder.sla(complaint.clock(.rescheduled, at: reopenedAt, resolveBy: newDeadline), on: connection, logger: logger)
                return ((), [])
            }
            let rescheduled = try await Self.entry(complaint, store)
            #expect(rescheduled.acknowledgeBy == nil && rescheduled.resolveBy == newDeadline)

            // An sla-watcher older than d4748d9 sends the first clock's acknowledge deadline, long past, on its
            // resumed (stamped after the reopening): a reopened clock has none, so it stays null.
            let resumedBy = newDeadline.addingTimeInterval(hour)
            try await store.write { connection, logger in
                try await recorder.sla(complaint.clock(.paused, at: reopenedAt.addingTimeInterval(hour), resolveBy: newDeadline), on: connection, logger: logger)
                try await recorder.sla(
                    complaint.clock(.resumed, at: reopenedAt.addingTimeInterval(2 * hour), resolveBy: resumedBy, acknowledgeBy: acknowledgeBy),
                    on: connection, logger: logger)
                return ((), [])
            }
            let resumed = try await Self.entry(complaint, store)
            #expect(resumed.acknowledgeBy == nil, "not the first clock's \(acknowledgeBy) an old watcher sent again")
            #expect(resumed.resolveBy == resumedBy)

            // The SLA topic read ahead: the new clock's deadlines (no acknowledge deadline), then the reopening, which keeps them.
            let ahead = try Complaint(registeredAt: r)
            let aheadReceived = try ahead.received()
            try await store.write { connection, logger in
                try await recorder.received(aheadReceived, on: connection, logger: logger)
                try await recorder.sla(
                    ahead.clock(.timerStarted, at: r.addingTimeInterval(60), resolveBy: firstResolveBy, acknowledgeBy: acknowledgeBy),
                    on: connection, logger: logger)
                try await recorder.updated(ahead.staff(resolution, at: r.addingTimeInterval(600), status: .resolved), on: connection, logger: logger)
                try await recorder.sla(ahead.clock(.rescheduled, at: reopenedAt, resolveBy: newDeadline), on: connection, logger: logger)
                try await recorder.updated(ahead.staff(Self.reopening, at: reopenedAt, status: .reopened), on: connection, logger: logger)
                return ((), [])
            }
            let aheadEntry = try await Self.entry(ahead, store)
            #expect(aheadEntry.acknowledgeBy == nil && aheadEntry.resolveBy == newDeadline)

            // The SLA topic read ahead with an old watcher: its reclassification rescheduled after the reopening
            // carries the first clock's acknowledge deadline; the reopening, read after it, drops that one.
            let oldWatcher = try Complaint(registeredAt: r)
            let oldWatcherReceived = try oldWatcher.received()
            try await store.write { connection, logger in
                try await recorder.received(oldWatcherReceived, on: connection, logger: logger)
                try await recorder.sla(
                    oldWatcher.clock(.timerStarted, at: r.addingTimeInterval(60), resolveBy: firstResolveBy, acknowledgeBy: acknowledgeBy),
                    on: connection, logger: logger)
                try await recorder.updated(oldWatcher.staff(resolution, at: r.addingTimeInterval(600), status: .resolved), on: connection, logger: logger)
                try await recorder.sla(
                    oldWatcher.clock(.rescheduled, at: reopenedAt.addingTimeInterval(hour), resolveBy: newDeadline, acknowledgeBy: acknowledgeBy),
                    on: connection, logger: logger)
                try await recorder.updated(oldWatcher.staff(Self.reopening, at: reopenedAt, status: .reopened), on: connection, logger: logger)
                return ((), [])
            }
            let oldWatcherEntry = try await Self.entry(oldWatcher, store)
            #expect(oldWatcherEntry.acknowledgeBy == nil && oldWatcherEntry.resolveBy == newDeadline)
        }
    }

    /// Migration 0003 on a schema of the release before it (0001 and 0002), holding complaints reopened
    /// under that release. Before: the backfill cleared only `resolve_by` (a complaint never acknowledged
    /// kept its first clock's acknowledge deadline, "acknowledge overdue" for ever: no new event comes for a
    /// reopening already read), and only of complaints with a resolution (one closed without being resolved,
    /// then reopened, kept both deadlines and got no `reopened_at`).
    @Test("migration 0003 clears both deadlines of complaints already reopened, resolved or closed without a resolution")
    func migrationClearsReopenedDeadlines() async throws {
        let service = RedressService.metrics.isolated()
        try await withTestClient { client async throws in
            do {
                let sets = try service.migrations()
                let own = try #require(sets.last)
                let previousRelease = try MigrationSet(schema: own.schema, track: own.track, migrations: own.migrations.filter { $0.version <= 2 })
                let migrator = Migrator(client: client, logger: .complaintTest)
                _ = try await migrator.apply(Array(sets.dropLast()) + [previousRelease])

                let r = Date(timeIntervalSince1970: 1_794_000_000)
                let hour: TimeInterval = 3600
                let acknowledgeBy = r.addingTimeInterval(15 * 60), resolveBy = r.addingTimeInterval(4 * hour)
                let resolvedAt = r.addingTimeInterval(600), closedAt = r.addingTimeInterval(2 * hour), reopenedAt = r.addingTimeInterval(72 * hour)
                let resolved = UUID(), closed = UUID(), running = UUID(), resumed = UUID()
                let table = "\(service.schema.rawValue).complaints"
                // Never acknowledged, resolved at first contact, reopened: the first clock's deadlines set at r + 1 min.
                try await client.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO \(table) (complaint_id, hotel_id, registered_at, status, status_at, first_resolved_at, resolved_at,
                                          reopen_count, acknowledge_by, resolve_by, deadlines_at)
                    VALUES ($1, 'SHA-PD01', $2, 'reopened', $3, $4, $4, 1, $5, $6, $7)
                    """, binds: Self.binds(resolved, r, reopenedAt, resolvedAt, acknowledgeBy, resolveBy, r.addingTimeInterval(60))), logger: .complaintTest)
                // Closed without a resolution, then reopened.
                try await client.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO \(table) (complaint_id, hotel_id, registered_at, status, status_at, closed_at,
                                          reopen_count, acknowledge_by, resolve_by, deadlines_at)
                    VALUES ($1, 'SHA-PD01', $2, 'reopened', $3, $4, 1, $5, $6, $7)
                    """, binds: Self.binds(closed, r, reopenedAt, closedAt, acknowledgeBy, resolveBy, r.addingTimeInterval(60))), logger: .complaintTest)
                // Resolved, reopened, paused and resumed under an sla-watcher older than d4748d9: deadlines set at
                // r + 80 h (after the stand-in reopening time), the acknowledge one the first clock's.
                try await client.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO \(table) (complaint_id, hotel_id, registered_at, status, status_at, first_resolved_at, resolved_at,
                                          reopen_count, acknowledge_by, resolve_by, deadlines_at)
                    VALUES ($1, 'SHA-PD01', $2, 'reopened', $3, $4, $4, 1, $5, $6, $7)
                    """, binds: Self.binds(resumed, r, reopenedAt, resolvedAt, acknowledgeBy, reopenedAt.addingTimeInterval(12 * hour), reopenedAt.addingTimeInterval(8 * hour))), logger: .complaintTest)
                // Never reopened: untouched.
                try await client.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO \(table) (complaint_id, hotel_id, registered_at, status, status_at, acknowledge_by, resolve_by, deadlines_at)
                    VALUES ($1, 'SHA-PD01', $2, 'assigned', $2, $3, $4, $5)
                    """, binds: Self.binds(running, r, acknowledgeBy, resolveBy, r.addingTimeInterval(60))), logger: .complaintTest)

                _ = try await migrator.apply(sets)
                var rows: [UUID: (Date?, Date?, Date?)] = [:]
                let result = try await client.query(PostgresQuery(unsafeSQL: "SELECT complaint_id, acknowledge_by, resolve_by, reopened_at FROM \(table)"), logger: .complaintTest)
                for try await (id, acknowledge, resolve, reopened) in result.decode((UUID, Date?, Date?, Date?).self) {
                    rows[id] = (acknowledge, resolve, reopened)
                }
                #expect(rows[resolved]?.0 == nil && rows[resolved]?.1 == nil && rows[resolved]?.2 == resolvedAt, "\(String(describing: rows[resolved]))")
                #expect(rows[closed]?.0 == nil && rows[closed]?.1 == nil && rows[closed]?.2 == closedAt, "\(String(describing: rows[closed]))")
                #expect(rows[resumed]?.0 == nil && rows[resumed]?.1 == reopenedAt.addingTimeInterval(12 * hour) && rows[resumed]?.2 == resolvedAt,
                        "a reopened clock has no acknowledge deadline: \(String(describing: rows[resumed]))")
                #expect(rows[running]?.0 == acknowledgeBy && rows[running]?.1 == resolveBy && rows[running]?.2 == nil, "\(String(describing: rows[running]))")
                try await dropSchema(service.schema, client: client)
            } catch {
                try? await dropSchema(service.schema, client: client)
                throw error
            }
        }
    }

    static func binds(_ id: UUID, _ dates: Date...) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(id)
        for date in dates { bindings.append(date) }
        return bindings
    }
}
