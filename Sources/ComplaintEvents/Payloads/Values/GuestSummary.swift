/// The guest as registered complaints carry them downstream: enough to prioritise, address and
/// recognise a returning guest, but no phone number or e-mail address (events carry only what their
/// consumers need; schemas/README.md). The notifier looks contact details up from intake by
/// complaint id when it must reach the guest.
public struct GuestSummary: Codable, Hashable, Sendable {
    /// HMAC-SHA-256 (lower-case hex) of the guest's normalised identity under the group's secret:
    /// the same guest gets the same key across stays, without revealing who they are.
    public var guestKey: String?
    public var name: String?
    public var roomNumber: String?
    public var reservationReference: String?
    public var loyaltyTier: String?
    public var isVIP: Bool
    public var preferredLanguage: String?
    public var preferredContact: ContactChannel?

    public init(
        guestKey: String? = nil, name: String? = nil, roomNumber: String? = nil, reservationReference: String? = nil,
        loyaltyTier: String? = nil, isVIP: Bool, preferredLanguage: String? = nil, preferredContact: ContactChannel? = nil
    ) {
        self.guestKey = guestKey
        self.name = name
        self.roomNumber = roomNumber
        self.reservationReference = reservationReference
        self.loyaltyTier = loyaltyTier
        self.isVIP = isVIP
        self.preferredLanguage = preferredLanguage
        self.preferredContact = preferredContact
    }

    enum CodingKeys: String, CodingKey {
        case guestKey, name, roomNumber, reservationReference = "reservationRef", loyaltyTier, isVIP = "vip"
        case preferredLanguage, preferredContact
    }
}

extension GuestSummary: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.guestKey: .text(maxLength: 64, .guestKey),
        .name: .name,
        .roomNumber: .text(maxLength: 16),
        .reservationReference: .text(maxLength: 64, .reference(maxLength: 64)),
        .loyaltyTier: .text(maxLength: 32),
        .preferredLanguage: .language,
    ])
}
