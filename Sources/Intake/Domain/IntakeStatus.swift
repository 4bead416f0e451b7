import ComplaintEvents

/// Where a complaint stands in intake's record: the loop's states, finer than the contract's
/// ``ComplaintStatus`` (which has no separate `received`/`classified`; both are `registered`).
///
/// ```
/// received → classified → assigned → acknowledged → resolved → closed
///                                     ↑   ↓      ↗ ↑    │        │
///                         waiting_for_guest      reopened ←┴────────┘
/// ```
public enum IntakeStatus: String, Sendable, Codable, CaseIterable {
    case received
    case classified
    case assigned
    case acknowledged
    /// Waiting for the guest (SLA clocks paused); `resume` goes back to `acknowledged`.
    case waitingForGuest = "waiting_for_guest"
    case resolved
    case reopened
    case closed

    /// The status other services see in events.
    public var eventStatus: ComplaintStatus {
        switch self {
        case .received, .classified: .registered
        case .assigned: .assigned
        case .acknowledged: .acknowledged
        case .waitingForGuest: .waitingForGuest
        case .resolved: .resolved
        case .reopened: .reopened
        case .closed: .closed
        }
    }

    /// Not resolved or closed: staff still owe the guest something.
    public var isOpen: Bool {
        switch self {
        case .resolved, .closed: false
        default: true
        }
    }
}
