import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
@testable import SLAWatcher
import Testing

/// The retention purge of the `sla` schema on a real database: what goes, what stays, batches, clocks
/// held by another transaction, and a complaint reopened after its clock went.
@Suite("Clock retention", .timeLimit(.minutes(2)))
struct ClockRetentionTests {
    typealias Order = StaffActionOrderTests
    static let resolution = Resolution(text: "Fixed", rootCause: "wear", isFirstContact: true)

    /// The watcher's clock `days` from now.
    static func clockwork(inDays days: Double) -> Clockwork {
        var clockwork = Clockwork(policies: Order.policies)
        clockwork.clock = { Date().addingTimeInterval(days * 86_400) }
        return clockwork
    }

    /// Complaints with a clock, registered `registered`: assigned, then `actions` (change, status, seconds after registration).
    static func complaint(
        registered: Date, assigned: Bool = true, _ actions: [Order.Action], clockwork: Clockwork, store: StageStore, schema: SchemaName
    ) async throws -> UUID {
        let id = UUID()
        if assigned {
            _ = try await Order.deliver(Order.assigned(id, registeredAt: registered), to: AssignedClockHandler(clockwork: clockwork), store: store, schema: schema)
        }
        _ = try await Order.deliver(actions, of: id, registeredAt: registered, to: UpdatedClockHandler(clockwork: clockwork), store: store, schema: schema)
        return id
    }

    static func clockIDs(_ store: StageStore) async throws -> Set<UUID> {
        try await store.read { connection, logger in
            Set(try await connection.query("SELECT complaint_id FROM clocks", logger: logger).collect().map { try $0.decode(UUID.self) })
        }
    }

    static func timerCount(_ store: StageStore) async throws -> Int {
        try await store.read { connection, logger in
            try await connection.query("SELECT count(*)::int FROM timers", logger: logger).collect()[0].decode(Int.self)
        }
    }

    @Test("closed, resolved-and-followed-up and never-started clocks past the retention go with their timers; open, recent and held ones stay")
    func purgesWhatIsOver() async throws {
        let service = RedressService.slaWatcher.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let now = Self.clockwork(inDays: 0), schema = service.schema
            let registered = Date().addingTimeInterval(-30 * 60)
            let closed = try await Self.complaint(registered: registered, [
                (.acknowledged, .acknowledged, 60), (.resolved(Self.resolution), .resolved, 120), (.closed, .closed, 180),
            ], clockwork: now, store: store, schema: schema)
            let closedToo = try await Self.complaint(registered: registered, [
                (.acknowledged, .acknowledged, 60), (.resolved(Self.resolution), .resolved, 120), (.closed, .closed, 180),
            ], clockwork: now, store: store, schema: schema)
            let resolved = try await Self.complaint(registered: registered, [
                (.acknowledged, .acknowledged, 60), (.resolved(Self.resolution), .resolved, 120),
            ], clockwork: now, store: store, schema: schema)
            let open = try await Self.complaint(registered: registered, [(.acknowledged, .acknowledged, 60)], clockwork: now, store: store, schema: schema)
            let neverStarted = try await Self.complaint(
                registered: registered, assigned: false, [(.acknowledged, .acknowledged, 60)], clockwork: now, store: store, schema: schema)
            let all: Set = [closed, closedToo, resolved, open, neverStarted]
            #expect(try await Self.clockIDs(store) == all)
            #expect(try await Self.timerCount(store) > 0)

            var configuration = ClockPurge.Configuration()
            configuration.batchSize = 1
            // Today nothing is past 90 days.
            #expect(try await ClockPurge(clockwork: now, store: store, configuration: configuration, logger: .complaintTest).purgeOnce() == 0)
            #expect(try await Self.clockIDs(store) == all)

            // 91 days on, with one closed clock held by another transaction (a handler, or another replica's
            // purge): that one is passed by, not waited for; the other ended ones go, in batches of one.
            let later = ClockPurge(clockwork: Self.clockwork(inDays: 91), store: store, configuration: configuration, logger: .complaintTest)
            let purgedWhileHeld = try await store.write { connection, logger in
                _ = try await connection.query("SELECT 1 FROM clocks WHERE complaint_id = \(closedToo) FOR UPDATE", logger: logger).collect()
                return (try await later.purgeOnce(), [])
            }
            #expect(purgedWhileHeld == 2)
            // The resolved one waits for its follow-up; the open one has timers to fire and never ended.
            #expect(try await Self.clockIDs(store) == [closedToo, resolved, open])
            #expect(try await later.purgeOnce() == 1)
            #expect(try await Self.clockIDs(store) == [resolved, open])

            // Once the follow-up fired, the resolved complaint is over too; the open one stays, and so do its timers.
            try await store.write { connection, logger in
                _ = try await connection.query("UPDATE timers SET fired_at = now() WHERE complaint_id = \(resolved)", logger: logger).collect()
                return ((), [])
            }
            #expect(try await later.purgeOnce() == 1)
            #expect(try await Self.clockIDs(store) == [open])
            let orphans = try await store.read { connection, logger in
                try await connection.query("SELECT count(*)::int FROM timers WHERE complaint_id <> \(open)", logger: logger).collect()[0].decode(Int.self)
            }
            #expect(orphans == 0)
            #expect(try await Self.timerCount(store) > 0)
        }
    }

    @Test(
        "a complaint reopened after its clock was purged: nothing crashes or is dead-lettered, and no deadline of months ago fires (also with a classification correction read before the staff actions)",
        arguments: [false, true])
    func reopenedAfterPurge(correctedVerdict: Bool) async throws {
        let service = RedressService.slaWatcher.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let schema = service.schema
            let registered = Date().addingTimeInterval(-30 * 60)
            let id = try await Self.complaint(registered: registered, [
                (.acknowledged, .acknowledged, 60), (.resolved(Self.resolution), .resolved, 120), (.closed, .closed, 180),
            ], clockwork: Self.clockwork(inDays: 0), store: store, schema: schema)
            // 100 days on the watcher purges it (the purge is what SQL does here, so the handlers' part is
            // tested whatever removed the clock).
            let later = Self.clockwork(inDays: 100)
            try await store.write { connection, logger in
                _ = try await connection.query("DELETE FROM clocks WHERE complaint_id = \(id)", logger: logger).collect()
                return ((), [])
            }
            let reopenedAt = later.clock()
            let updated = UpdatedClockHandler(clockwork: later), assigned = AssignedClockHandler(clockwork: later)
            // The guest complains again: reopened. Assignment gives it to someone new (its owner left), with
            // the registration time of back then.
            let reopened = try await Order.deliver(
                Order.updated(id, .reopened(Reopening(trigger: .staffDecision, reason: "guest wrote again")), status: .reopened, at: reopenedAt),
                to: updated, store: store, schema: schema)
            #expect(reopened.isEmpty)
            if correctedVerdict {
                // A correction of its classification, with the registration of back then: facts only, no clock.
                let verdict = try Order.classified(id, .serious, at: reopenedAt, registeredAt: registered)
                #expect(try await Order.deliver(verdict, to: ClassifiedClockHandler(clockwork: later), store: store, schema: schema).isEmpty)
            }
            let reassigned = try await Order.deliver(Order.assigned(id, registeredAt: registered), to: assigned, store: store, schema: schema)
            #expect(reassigned.isEmpty, "\(reassigned.map(\.kind))")
            #expect(try await Order.timers(of: id, store: store).isEmpty)
            // Staff work it and close it: no clock, nothing published, nothing refused.
            for (change, status) in [(ComplaintUpdated.Change.acknowledged, ComplaintStatus.acknowledged), (.resolved(Self.resolution), .resolved), (.closed, .closed)] {
                let published = try await Order.deliver(
                    Order.updated(id, change, status: status, at: reopenedAt.addingTimeInterval(60)), to: updated, store: store, schema: schema)
                #expect(published.isEmpty)
            }
            #expect(try await Order.timers(of: id, store: store).isEmpty)
            // A complaint of today still starts its clocks under the same watcher.
            let fresh = try await Order.deliver(Order.assigned(UUID(), registeredAt: reopenedAt), to: assigned, store: store, schema: schema)
            #expect(fresh.map(\.kind) == [.timerStarted])
        }
    }

    @Test("SLA_RETENTION_DAYS: days, 0 keeps clocks for ever, anything else is refused by name")
    func configuration() async throws {
        #expect(try await SLAWatcherConfiguration.load(environment: [:]).retention == .seconds(90 * 86_400))
        #expect(try await SLAWatcherConfiguration.load(environment: ["SLA_RETENTION_DAYS": "30"]).retention == .seconds(30 * 86_400))
        #expect(try await SLAWatcherConfiguration.load(environment: ["SLA_RETENTION_DAYS": "0"]).retention == nil)
        for bad in ["-1", "1.5", "ninety", "3651"] {
            let error = await #expect(throws: SLAWatcherConfiguration.Invalid.self) {
                try await SLAWatcherConfiguration.load(environment: ["SLA_RETENTION_DAYS": bad])
            }
            #expect(error?.description.contains("SLA_RETENTION_DAYS '\(bad)'") == true)
        }
    }
}
