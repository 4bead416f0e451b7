import Foundation

/// A staff action on a complaint, one per event on `complaints.updated.v1`. `kind` says which;
/// the kind's details travel in the member named for them (`note`, `resolution`, `reopening`,
/// `compensation`, `followUp`), and no other detail member may be present.
public struct ComplaintUpdated: EventPayload {
    public static let eventType = "redress.complaint.updated.v1"

    /// The `kind` discriminator of the JSON.
    public enum Kind: String, EventEnum {
        case acknowledged
        case noteAdded = "note_added"
        case resolved
        case reopened
        case compensationRequested = "compensation_requested"
        case compensationApproved = "compensation_approved"
        case compensationRejected = "compensation_rejected"
        case followUpRecorded = "followup_recorded"
        case closed
        /// Staff wait for the guest (an answer, access to the room): SLA clocks pause.
        case waitingForGuest = "waiting_for_guest"
        /// The wait is over: SLA clocks run again.
        case resumed
    }

    /// What happened, with the details of that kind.
    public enum Change: Hashable, Sendable {
        case acknowledged
        case noteAdded(ComplaintNote)
        case resolved(Resolution)
        case reopened(Reopening)
        case compensationRequested(Compensation)
        case compensationApproved(Compensation)
        case compensationRejected(Compensation)
        case followUpRecorded(FollowUp)
        case closed
        case waitingForGuest
        case resumed

        public var kind: Kind {
            switch self {
            case .acknowledged: .acknowledged
            case .noteAdded: .noteAdded
            case .resolved: .resolved
            case .reopened: .reopened
            case .compensationRequested: .compensationRequested
            case .compensationApproved: .compensationApproved
            case .compensationRejected: .compensationRejected
            case .followUpRecorded: .followUpRecorded
            case .closed: .closed
            case .waitingForGuest: .waitingForGuest
            case .resumed: .resumed
            }
        }
    }

    public var complaintID: UUID
    public var change: Change
    public var occurredAt: Date
    public var actor: EventActor
    /// The complaint's status once this action applied.
    public var statusAfter: ComplaintStatus

    public var kind: Kind { change.kind }
    public var envelopeSubject: String? { complaintID.lowercasedString }

    public init(complaintID: UUID, change: Change, occurredAt: Date, actor: EventActor, statusAfter: ComplaintStatus) {
        self.complaintID = complaintID
        self.change = change
        self.occurredAt = occurredAt
        self.actor = actor
        self.statusAfter = statusAfter
    }

    enum CodingKeys: String, CodingKey {
        case complaintID = "complaintId", kind, occurredAt, actor, statusAfter
        case note, resolution, reopening, compensation, followUp
    }

    private static func detailKey(of kind: Kind) -> CodingKeys? {
        switch kind {
        case .acknowledged, .closed, .waitingForGuest, .resumed: nil
        case .noteAdded: .note
        case .resolved: .resolution
        case .reopened: .reopening
        case .compensationRequested, .compensationApproved, .compensationRejected: .compensation
        case .followUpRecorded: .followUp
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        complaintID = try container.decode(UUID.self, forKey: .complaintID)
        let kind = try container.decode(Kind.self, forKey: .kind)
        occurredAt = try container.decode(Date.self, forKey: .occurredAt)
        actor = try container.decode(EventActor.self, forKey: .actor)
        statusAfter = try container.decode(ComplaintStatus.self, forKey: .statusAfter)
        try container.rejectDetails(
            [.note, .resolution, .reopening, .compensation, .followUp], except: Self.detailKey(of: kind), kind: kind.rawValue)
        switch kind {
        case .acknowledged: change = .acknowledged
        case .noteAdded: change = .noteAdded(try container.decode(ComplaintNote.self, forKey: .note))
        case .resolved: change = .resolved(try container.decode(Resolution.self, forKey: .resolution))
        case .reopened: change = .reopened(try container.decode(Reopening.self, forKey: .reopening))
        case .compensationRequested: change = .compensationRequested(try container.decode(Compensation.self, forKey: .compensation))
        case .compensationApproved: change = .compensationApproved(try container.decode(Compensation.self, forKey: .compensation))
        case .compensationRejected: change = .compensationRejected(try container.decode(Compensation.self, forKey: .compensation))
        case .followUpRecorded: change = .followUpRecorded(try container.decode(FollowUp.self, forKey: .followUp))
        case .closed: change = .closed
        case .waitingForGuest: change = .waitingForGuest
        case .resumed: change = .resumed
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(complaintID, forKey: .complaintID)
        try container.encode(kind, forKey: .kind)
        try container.encode(occurredAt, forKey: .occurredAt)
        try container.encode(actor, forKey: .actor)
        try container.encode(statusAfter, forKey: .statusAfter)
        switch change {
        case .acknowledged, .closed, .waitingForGuest, .resumed: break
        case .noteAdded(let note): try container.encode(note, forKey: .note)
        case .resolved(let resolution): try container.encode(resolution, forKey: .resolution)
        case .reopened(let reopening): try container.encode(reopening, forKey: .reopening)
        case .compensationRequested(let compensation), .compensationApproved(let compensation),
             .compensationRejected(let compensation):
            try container.encode(compensation, forKey: .compensation)
        case .followUpRecorded(let followUp): try container.encode(followUp, forKey: .followUp)
        }
    }
}
