import ComplaintEvents

/// The authenticated caller of one request: an API key's id, name, role and hotels.
public struct Caller: Sendable, Hashable {
    public var keyID: String
    /// The key's name: a staff id (`fd-li.wei`) or a system (`opera-pms`); the timeline's actor.
    public var name: String
    public var role: AccessRole
    /// The hotels the key is scoped to; empty for an admin (all hotels).
    public var hotels: Set<String>
    /// Requests per second the key may make; `nil` uses the service default.
    public var ratePerSecond: Int?

    public init(keyID: String, name: String, role: AccessRole, hotels: Set<String>, ratePerSecond: Int? = nil) {
        self.keyID = keyID
        self.name = name
        self.role = role
        self.hotels = hotels
        self.ratePerSecond = ratePerSecond
    }

    /// Whether the key covers `hotelID`.
    public func covers(hotel hotelID: String) -> Bool {
        role == .admin || hotels.contains(hotelID)
    }

    public var actor: EventActor {
        EventActor(id: name, role: role.actorRole)
    }
}
