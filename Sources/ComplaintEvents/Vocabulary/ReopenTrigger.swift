/// Why a resolved complaint was reopened.
public enum ReopenTrigger: String, EventEnum {
    /// The follow-up found the guest dissatisfied.
    case followupDissatisfied = "followup_dissatisfied"
    /// The guest came back.
    case guestRequest = "guest_request"
    /// Staff found the fix did not hold.
    case staffDecision = "staff_decision"
}
