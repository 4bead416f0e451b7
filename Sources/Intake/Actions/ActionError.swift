import Foundation

/// Why a staff action was refused; the HTTP layer maps each to its status.
public enum ActionError: Error, Hashable {
    /// No such complaint for this caller (it may exist in a hotel the caller cannot see): 404.
    case complaintNotFound
    /// The action is illegal in the complaint's current status: 409.
    case illegalTransition(action: String, current: IntakeStatus, legalFrom: [IntakeStatus])
    /// The caller's role may not do this: 403.
    case forbidden(String)
    /// No such compensation on this complaint: 404.
    case compensationNotFound(UUID)
    /// The compensation was already approved or rejected: 409.
    case compensationDecided(UUID, state: String)
    /// Closing while a compensation waits for a manager's decision would leave it undecidable: 409.
    case compensationPending(UUID)
    /// A follow-up is already recorded since the complaint was last resolved (one per resolution): 409.
    case followUpRecorded(at: Date)
}
