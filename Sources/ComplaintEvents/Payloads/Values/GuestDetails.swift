/// The guest as a submitting system knows them, contact details included; only intake sees these
/// in clear (see ``GuestSummary`` for what travels on).
public struct GuestDetails: Codable, Hashable, Sendable {
    public var name: String?
    /// At most 16 characters, e.g. `1208` or `行政楼1208`.
    public var roomNumber: String?
    /// The reservation or folio number in the PMS.
    public var reservationReference: String?
    /// E.164, e.g. `+8613800138000`.
    public var phone: String?
    public var email: String?
    public var loyaltyID: String?
    /// The programme's own tier name, e.g. `platinum`.
    public var loyaltyTier: String?
    public var isVIP: Bool?
    /// BCP 47, e.g. `zh-CN`.
    public var preferredLanguage: String?
    public var preferredContact: ContactChannel?

    public init(
        name: String? = nil, roomNumber: String? = nil, reservationReference: String? = nil, phone: String? = nil,
        email: String? = nil, loyaltyID: String? = nil, loyaltyTier: String? = nil, isVIP: Bool? = nil,
        preferredLanguage: String? = nil, preferredContact: ContactChannel? = nil
    ) {
        self.name = name
        self.roomNumber = roomNumber
        self.reservationReference = reservationReference
        self.phone = phone
        self.email = email
        self.loyaltyID = loyaltyID
        self.loyaltyTier = loyaltyTier
        self.isVIP = isVIP
        self.preferredLanguage = preferredLanguage
        self.preferredContact = preferredContact
    }

    enum CodingKeys: String, CodingKey {
        case name, roomNumber, reservationReference = "reservationRef", phone, email, loyaltyID = "loyaltyId", loyaltyTier
        case isVIP = "vip", preferredLanguage, preferredContact
    }
}

extension GuestDetails: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.name: .name,
        .roomNumber: .text(maxLength: 16),
        .reservationReference: .text(maxLength: 64, .reference(maxLength: 64)),
        .phone: .text(maxLength: 16, .phone),
        .email: .text(maxLength: 254, .email),
        .loyaltyID: .text(maxLength: 64, .reference(maxLength: 64)),
        .loyaltyTier: .text(maxLength: 32),
        .preferredLanguage: .language,
    ])
}
