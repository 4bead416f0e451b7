import ComplaintEvents

/// Where a complaint stands in intake's record: the loop's states, finer than the contract's
/// ``ComplaintStatus`` (which has no separate `received`/`classified`; both are `registered`).
///
/// ```
/// received → classified → assigned → acknowledged → resolved → closed
///                                                    ↑    │        │
///                                          reopened ←┴────┴────────┘
/// ```
public enum IntakeStatus: String, Sendable, Codable, CaseIterable {
    case received
    case classified
    case assigned
    case acknowledged
    case resolved
    case reopened
    case closed

    /// The status other services see in events.
    public var eventStatus: ComplaintStatus {
        switch self {
        case .received, .classified: .registered
        case .assigned: .assigned
        case .acknowledged: .acknowledged
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
