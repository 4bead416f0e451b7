import ComplaintEvents
import Foundation

/// What staff can do to a complaint over HTTP; each is checked by ``StaffAction/transition(from:)``
/// and written to the timeline and to `complaints.updated.v1`.
public enum StaffAction: Sendable, Hashable {
    case acknowledge
    case addNote(ComplaintNote)
    case resolve(Resolution)
    case reopen(reason: String)
    case requestCompensation(CompensationRequest)
    case approveCompensation(id: UUID, note: String?)
    case rejectCompensation(id: UUID, note: String?)
    case recordFollowUp(FollowUp)
    case close
    /// Waiting for the guest: the SLA clocks pause.
    case waitForGuest
    /// The wait is over: the SLA clocks run again.
    case resume

    /// The action's name in URLs, problems and the timeline.
    public var name: String {
        switch self {
        case .acknowledge: "acknowledge"
        case .addNote: "note"
        case .resolve: "resolve"
        case .reopen: "reopen"
        case .requestCompensation: "request-compensation"
        case .approveCompensation: "approve-compensation"
        case .rejectCompensation: "reject-compensation"
        case .recordFollowUp: "follow-up"
        case .close: "close"
        case .waitForGuest: "wait-for-guest"
        case .resume: "resume"
        }
    }

    /// The status after the action, or `nil` when the action is illegal in `status` (HTTP 409).
    ///
    /// A follow-up is taken on a resolved complaint; its effect on the status (a dissatisfied guest
    /// reopens the case) is decided by ``FollowUpPolicy``, not here.
    public func transition(from status: IntakeStatus) -> IntakeStatus? {
        switch self {
        case .acknowledge:
            switch status {
            case .received, .classified, .assigned, .reopened: .acknowledged
            default: nil
            }
        case .addNote:
            status
        case .resolve:
            switch status {
            case .acknowledged, .reopened, .waitingForGuest: .resolved
            default: nil
            }
        case .waitForGuest:
            status == .acknowledged ? .waitingForGuest : nil
        case .resume:
            status == .waitingForGuest ? .acknowledged : nil
        case .reopen:
            switch status {
            case .resolved, .closed: .reopened
            default: nil
            }
        case .requestCompensation, .approveCompensation, .rejectCompensation:
            status == .closed ? nil : status
        case .recordFollowUp:
            status == .resolved ? .resolved : nil
        case .close:
            status == .resolved ? .closed : nil
        }
    }

    /// Statuses in which the action is legal, for the 409 problem's detail.
    public var legalFrom: [IntakeStatus] {
        IntakeStatus.allCases.filter { transition(from: $0) != nil }
    }
}

/// A compensation a staff member asks for: within their authority it is approved at once, above it
/// it waits for a manager (``CompensationAuthority``).
public struct CompensationRequest: Sendable, Hashable, Codable {
    public var kind: CompensationKind
    /// In the currency's minor unit (fen, cents).
    public var amountMinor: Int64
    /// ISO 4217.
    public var currency: String
    public var reason: String

    public init(kind: CompensationKind, amountMinor: Int64, currency: String, reason: String) {
        self.kind = kind
        self.amountMinor = amountMinor
        self.currency = currency
        self.reason = reason
    }
}

/// A satisfaction of 1 or 2 in a follow-up means the recovery failed: the complaint reopens.
public enum FollowUpPolicy {
    public static let reopenAtOrBelow = 2

    public static func reopens(_ followUp: FollowUp) -> Bool {
        followUp.satisfaction <= reopenAtOrBelow
    }
}
