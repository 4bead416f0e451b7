import ComplaintEvents
import Crypto
import Foundation

/// Derives the pseudonymous guest key that travels downstream instead of the guest's identity.
///
/// HMAC-SHA-256 under the group's secret of the strongest identifier the submission has: the loyalty
/// id, else the phone number, else the e-mail address (normalised, and tagged by kind so that a phone
/// number can never collide with a loyalty id). Without the secret the key reveals nothing; with the
/// same secret every hotel of the group derives the same key for the same guest.
public struct GuestKeyer: Sendable {
    private let key: SymmetricKey

    /// - Parameter secret: `REDRESS_GUEST_KEY_SECRET`; at least 16 bytes.
    public init(secret: String) {
        self.key = SymmetricKey(data: Array(secret.utf8))
    }

    /// The guest key, or `nil` when the guest gave no identifier.
    public func guestKey(for guest: GuestDetails) -> String? {
        guard let identity = Self.identity(of: guest) else { return nil }
        let mac = HMAC<SHA256>.authenticationCode(for: Array(identity.utf8), using: key)
        return mac.map { byte in
            let hex = Array("0123456789abcdef".utf8)
            return String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]], as: UTF8.self)
        }.joined()
    }

    static func identity(of guest: GuestDetails) -> String? {
        if let loyalty = guest.loyaltyID?.trimmingCharacters(in: .whitespaces), !loyalty.isEmpty {
            return "loyalty:" + loyalty.uppercased()
        }
        if let phone = guest.phone?.filter({ $0 == "+" || $0.isNumber }), !phone.isEmpty {
            return "phone:" + phone
        }
        if let email = guest.email?.trimmingCharacters(in: .whitespaces).lowercased(), !email.isEmpty {
            return "email:" + email
        }
        return nil
    }
}
