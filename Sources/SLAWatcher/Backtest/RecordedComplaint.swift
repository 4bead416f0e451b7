import ComplaintEvents
import Foundation

/// One complaint's recorded history as the SLA clocks see it — registration, verdict, department and
/// what staff did — folded from the events on the topics, with every resolve clock kept (a reopening
/// starts a new one) so a candidate policy can be judged against all of them.
public struct RecordedComplaint: Sendable, Hashable {
    /// A resolve clock: from registration or a reopening to the resolution (nil while open).
    public struct ResolvePeriod: Sendable, Hashable {
        public var start: Date
        public var end: Date?

        public init(start: Date, end: Date? = nil) {
            self.start = start
            self.end = end
        }
    }

    public var id: UUID
    public var hotelID: String
    public var category: ComplaintCategory?
    public var severity: Severity?
    public var department: String?
    public var registeredAt: Date?
    public var acknowledgedAt: Date?
    public var resolvePeriods: [ResolvePeriod] = []
    public var pauses: [ClockPause] = []
    /// When the verdict behind `category` and `severity` was made (the newest one wins).
    var classifiedAt: Date?
    /// When the assignment behind `department` was made (the newest one wins).
    var departmentAt: Date?

    public init(id: UUID, hotelID: String) {
        self.id = id
        self.hotelID = hotelID
    }

    /// A verdict: the newest classification decides category and severity.
    public mutating func record(_ classified: ComplaintClassified) {
        if let classifiedAt, classified.classifiedAt <= classifiedAt { return }
        classifiedAt = classified.classifiedAt
        category = classified.category
        severity = classified.severity
        if let registeredAt = classified.registeredAt { start(at: registeredAt) }
    }

    /// An assignment: the department (whose calendar counts business time), and the verdict it carries
    /// when no classification was seen.
    public mutating func record(_ assigned: ComplaintAssigned) {
        // The newest assignment's department, as the watcher keeps it (a reclassification its owner keeps
        // moves the clocks to the new department's calendar; escalations re-assign within it).
        if departmentAt.map({ assigned.assignedAt > $0 }) ?? true {
            department = assigned.department
            departmentAt = assigned.assignedAt
        }
        if classifiedAt == nil {
            category = assigned.category
            severity = assigned.severity
        }
        start(at: assigned.registeredAt)
    }

    /// What staff did, as the SLA watcher reads it: acknowledging stops the response clock, resolving
    /// the resolve clock, reopening starts a new one, waiting for the guest pauses both.
    public mutating func record(_ updated: ComplaintUpdated) {
        let at = updated.occurredAt
        switch updated.change {
        case .acknowledged:
            if acknowledgedAt == nil { acknowledgedAt = at }
        case .resolved:
            if isPaused { pauses[pauses.count - 1].end = at }
            if let last = resolvePeriods.indices.last, resolvePeriods[last].end == nil { resolvePeriods[last].end = at }
        case .reopened:
            if resolvePeriods.last?.end != nil { resolvePeriods.append(ResolvePeriod(start: at)) }
        case .waitingForGuest:
            if !isPaused { pauses.append(ClockPause(start: at)) }
        case .resumed:
            if isPaused { pauses[pauses.count - 1].end = at }
        default:
            break
        }
    }

    var isPaused: Bool { pauses.last.map { $0.end == nil } ?? false }

    private mutating func start(at registeredAt: Date) {
        guard self.registeredAt == nil else { return }
        self.registeredAt = registeredAt
        resolvePeriods.insert(ResolvePeriod(start: registeredAt), at: 0)
    }
}

/// The recorded complaints being read from the topics. The topics are read side by side, so a staff
/// action may arrive before its complaint's verdict: actions are kept and applied, in the order they
/// happened, once everything is read.
public struct RecordedHistory: Sendable {
    private var complaints: [UUID: RecordedComplaint] = [:]
    private var actions: [(hotel: String, action: ComplaintUpdated)] = []

    public init() {}

    public mutating func add(_ event: EventEnvelope<ComplaintClassified>) {
        complaints[event.data.complaintID, default: RecordedComplaint(id: event.data.complaintID, hotelID: event.hotelID)].record(event.data)
    }

    public mutating func add(_ event: EventEnvelope<ComplaintAssigned>) {
        complaints[event.data.complaintID, default: RecordedComplaint(id: event.data.complaintID, hotelID: event.hotelID)].record(event.data)
    }

    public mutating func add(_ event: EventEnvelope<ComplaintUpdated>) {
        actions.append((event.hotelID, event.data))
    }

    /// Every complaint with its actions applied, of those registered in `range`.
    public func complaints(registeredIn range: Range<Date>) -> [RecordedComplaint] {
        var complete = complaints
        for (hotel, action) in actions.sorted(by: { $0.action.occurredAt < $1.action.occurredAt }) {
            complete[action.complaintID, default: RecordedComplaint(id: action.complaintID, hotelID: hotel)].record(action)
        }
        return complete.values.filter { $0.registeredAt.map(range.contains) ?? false }
    }
}
