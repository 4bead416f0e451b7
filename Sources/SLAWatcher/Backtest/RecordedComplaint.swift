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

    public init(id: UUID, hotelID: String) {
        self.id = id
        self.hotelID = hotelID
    }

    /// A verdict: the newest classification decides category and severity.
    public mutating func record(_ classified: ComplaintClassified) {
        if let classifiedAt, classified.classifiedAt < classifiedAt { return }
        classifiedAt = classified.classifiedAt
        category = classified.category
        severity = classified.severity
        if let registeredAt = classified.registeredAt { start(at: registeredAt) }
    }

    /// An assignment: the department (whose calendar counts business time), and the verdict it carries
    /// when no classification was seen.
    public mutating func record(_ assigned: ComplaintAssigned) {
        department = assigned.department
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
