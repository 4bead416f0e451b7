import ComplaintEvents
import Foundation
import HotelTime
import SLAWatcher
import Testing

@Suite("A complaint's clocks: pauses, acknowledgement, resolution, reopening")
struct ComplaintClocksTests {
    static let utc = TimeZone(identifier: "UTC")!
    static let moderate = SLAPolicy(response: .minutes(15), resolve: .hours(4))
    static let wall = ClockArithmetic(calendar: .alwaysOpen, timeZone: utc)
    static let officeHours = ClockArithmetic(calendar: office, timeZone: utc)

    @Test("fresh: warnings at 80 %, breaches at the targets, escalations after them, the ceiling at 72 h")
    func fresh() {
        let clocks = ComplaintClocks(registeredAt: instant("2026-11-24T10:00:00Z"), policy: Self.moderate)
        let due = clocks.dueTimes(Self.wall).mapValues(rfc3339)
        #expect(due == [
            .acknowledgeWarning: "2026-11-24T10:12:00Z", .acknowledgeBreach: "2026-11-24T10:15:00Z",
            .resolveWarning: "2026-11-24T13:12:00Z", .resolveBreach: "2026-11-24T14:00:00Z",
            .escalation(level: 1): "2026-11-24T10:15:00Z", .escalation(level: 2): "2026-11-24T14:00:00Z",
            .escalation(level: 3): "2026-11-24T16:00:00Z", .ceiling: "2026-11-27T10:00:00Z",
        ])
    }

    @Test("acknowledging stops the response clock and its escalation; resolving stops the rest and starts the follow-up")
    func stops() {
        var clocks = ComplaintClocks(registeredAt: instant("2026-11-24T10:00:00Z"), policy: Self.moderate)
        clocks.acknowledgedAt = instant("2026-11-24T10:05:00Z")
        #expect(Set(clocks.dueTimes(Self.wall).keys) == [.resolveWarning, .resolveBreach, .escalation(level: 2), .escalation(level: 3), .ceiling])
        clocks.resolvedAt = instant("2026-11-24T11:00:00Z")
        #expect(clocks.dueTimes(Self.wall).mapValues(rfc3339) == [.followUp: "2026-11-25T11:00:00Z"])
    }

    @Test("reopening starts a new resolve clock from the reopening; the ceiling counts the time open, not the time resolved")
    func reopen() {
        var record = Self.record(
            registeredAt: instant("2026-11-24T10:00:00Z"), acknowledgedAt: instant("2026-11-24T10:05:00Z"), resolvedAt: instant("2026-11-24T11:00:00Z"))
        record.reopen(at: instant("2026-11-25T09:00:00Z"))
        let due = Self.dueTimes(of: record)
        #expect(due[.resolveBreach] == "2026-11-25T13:00:00Z")
        // Open 1 h before the resolution: 71 h are left from the reopening.
        #expect(due[.ceiling] == "2026-11-28T08:00:00Z")
        #expect(due[.acknowledgeBreach] == nil)
    }

    @Test("reopened more than 72 h after registration: the ceiling is 72 h of open time away, never due at the reopening")
    func reopenAfterTheCeiling() {
        // Registered Monday 10:00, resolved 11:00; the survey answered Thursday 12:00 reopens it.
        var record = Self.record(
            registeredAt: instant("2026-11-23T10:00:00Z"), acknowledgedAt: instant("2026-11-23T10:05:00Z"), resolvedAt: instant("2026-11-23T11:00:00Z"))
        record.reopen(at: instant("2026-11-26T12:00:00Z"))
        #expect(record.timeResolved == 73 * 3600)
        var due = Self.dueTimes(of: record)
        #expect(due[.ceiling] == "2026-11-29T11:00:00Z")
        #expect(due.values.allSatisfy { $0 > "2026-11-26T12:00:00Z" }, "\(due)")
        // Resolved again Thursday 21:00 (9 h more open, 10 h in all) and reopened Saturday 21:00: 62 h are left.
        record.resolvedAt = instant("2026-11-26T21:00:00Z")
        record.reopen(at: instant("2026-11-28T21:00:00Z"))
        due = Self.dueTimes(of: record)
        #expect(due[.ceiling] == "2026-12-01T11:00:00Z")
        // Closed unresolved, then reopened: the time since the closing is not counted either.
        record.closedAt = instant("2026-11-29T21:00:00Z")
        record.reopen(at: instant("2026-11-30T21:00:00Z"))
        #expect(Self.dueTimes(of: record)[.ceiling] == "2026-12-02T11:00:00Z")
    }

    @Test("reopened without an acknowledgement on record: the response clock does not run again, no acknowledge deadline or level 1 lies in the past")
    func reopenNeverAcknowledged() {
        var record = Self.record(registeredAt: instant("2026-11-23T10:00:00Z"), resolvedAt: instant("2026-11-23T11:00:00Z"))
        record.reopen(at: instant("2026-11-24T12:00:00Z"))
        let due = Self.dueTimes(of: record)
        #expect(due[.acknowledgeWarning] == nil && due[.acknowledgeBreach] == nil && due[.escalation(level: 1)] == nil, "\(due)")
        #expect(due.values.allSatisfy { $0 > "2026-11-24T12:00:00Z" }, "\(due)")
    }

    @Test("reopened with the desk's clock behind intake's (resolved and reopened stamped before the registration): still a reopening, no response clock")
    func reopenStampedBeforeRegistration() {
        var record = Self.record(registeredAt: instant("2026-11-23T10:00:00Z"), resolvedAt: instant("2026-11-23T09:58:00Z"))
        record.reopen(at: instant("2026-11-23T09:59:00Z"))
        let clocks = record.clocks(policy: Self.moderate)!
        #expect(clocks.isReopened && !clocks.awaitsAcknowledgement)
        let due = Self.dueTimes(of: record)
        #expect(due[.acknowledgeWarning] == nil && due[.acknowledgeBreach] == nil && due[.escalation(level: 1)] == nil, "\(due)")
        #expect(due[.resolveBreach] == "2026-11-23T13:59:00Z")
    }

    /// A started clock record, acknowledged and resolved when given.
    static func record(registeredAt: Date, acknowledgedAt: Date? = nil, resolvedAt: Date? = nil) -> ClockRecord {
        var record = ClockRecord(complaintID: UUID(), hotelID: "SHA-PD01")
        record.registeredAt = registeredAt
        record.resolveStartedAt = registeredAt
        record.acknowledgedAt = acknowledgedAt
        record.resolvedAt = resolvedAt
        return record
    }

    /// The record's timers under the moderate policy, around the clock, in RFC 3339.
    static func dueTimes(of record: ClockRecord) -> [ClockTimer: String] {
        record.clocks(policy: moderate)!.dueTimes(wall).mapValues(rfc3339)
    }

    @Test("waiting for the guest: no deadlines while paused; resuming continues with the paused time excluded")
    func pauseAndResume() {
        var clocks = ComplaintClocks(registeredAt: instant("2026-11-24T10:00:00Z"), policy: Self.moderate, acknowledgedAt: instant("2026-11-24T10:05:00Z"))
        clocks.pauses = [ClockPause(start: instant("2026-11-24T11:00:00Z"))]
        let paused = clocks.dueTimes(Self.wall)
        #expect(paused[.resolveBreach] == nil && paused[.escalation(level: 2)] == nil)
        #expect(paused[.ceiling] != nil)  // never paused
        clocks.pauses = [ClockPause(start: instant("2026-11-24T11:00:00Z"), end: instant("2026-11-24T12:30:00Z"))]
        // 1 h ran before the pause; 3 h remain from 12:30.
        #expect(rfc3339(clocks.resolveDue(Self.wall)) == "2026-11-24T15:30:00Z")
        #expect(Self.wall.elapsed(start: clocks.registeredAt, until: instant("2026-11-24T13:00:00Z"), pauses: clocks.pauses) == 90 * 60)
        // A pause that ends before the clock started changes nothing.
        clocks.pauses.insert(ClockPause(start: instant("2026-11-23T08:00:00Z"), end: instant("2026-11-23T09:00:00Z")), at: 0)
        #expect(rfc3339(clocks.resolveDue(Self.wall)) == "2026-11-24T15:30:00Z")
    }

    @Test("a pause spanning closed hours costs only the open hours it covers, on a business-hours calendar")
    func pauseOverClosedHours() {
        // Finance, office hours: registered Friday 16:00; 4 business hours to resolve.
        var clocks = ComplaintClocks(registeredAt: instant("2026-11-27T16:00:00Z"), policy: Self.moderate, acknowledgedAt: instant("2026-11-27T16:05:00Z"))
        #expect(rfc3339(clocks.resolveDue(Self.officeHours)) == "2026-11-30T11:00:00Z")
        // Paused Friday 17:00 to Monday 10:00: 1 h ran Friday, 3 h remain from Monday 10:00.
        clocks.pauses = [ClockPause(start: instant("2026-11-27T17:00:00Z"), end: instant("2026-11-30T10:00:00Z"))]
        #expect(rfc3339(clocks.resolveDue(Self.officeHours)) == "2026-11-30T13:00:00Z")
        // Two pauses, one of them entirely at night.
        clocks.pauses.append(ClockPause(start: instant("2026-11-30T20:00:00Z"), end: instant("2026-12-01T07:00:00Z")))
        #expect(rfc3339(clocks.resolveDue(Self.officeHours)) == "2026-11-30T13:00:00Z")
    }

    @Test("a severity change recomputes the open deadlines from the registration")
    func severityChange() {
        var clocks = ComplaintClocks(registeredAt: instant("2026-11-24T10:00:00Z"), policy: Self.moderate)
        clocks.policy = SLAPolicy(response: .minutes(5), resolve: .hours(1))
        let due = clocks.dueTimes(Self.wall).mapValues(rfc3339)
        #expect(due[.acknowledgeBreach] == "2026-11-24T10:05:00Z")
        #expect(due[.resolveBreach] == "2026-11-24T11:00:00Z")
    }

    @Test("timer keys read back from the text they are stored as; anything else is nil, never a crash")
    func timerKeyText() {
        for key in [TimerKey(.acknowledgeWarning), TimerKey(.resolveBreach, generation: 3), TimerKey(.escalation(level: 2)), TimerKey(.followUp, generation: 2)] {
            #expect(TimerKey(key.description) == key, "\(key)")
        }
        for text in ["", "#", "#2", "escalation_", "escalation_x", "sunrise"] {
            #expect(TimerKey(text) == nil, "\(text)")
        }
        // A missing generation is the first, as before.
        #expect(TimerKey("resolve_breach#") == TimerKey(.resolveBreach, generation: 1))
    }
}
