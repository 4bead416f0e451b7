import Crypto
import Foundation

/// The credential in a guest's follow-up survey link (回访): a complaint id and an expiry, signed with
/// HMAC-SHA-256 under a secret the notifier (which sends the link) and intake (which serves the page)
/// share. No API key is needed and nothing about the guest is in it.
///
/// Text form: `v1.<complaint id, 32 hex>.<expiry, Unix seconds>.<signature, base64url>`; the signature
/// covers `v1.<id>.<expiry>`.
public struct SurveyToken: Sendable, Hashable, CustomStringConvertible {
    public var complaintID: UUID
    public var expiresAt: Date
    /// The base64url signature as it appears in the token.
    public var signature: String

    /// Why a token is refused.
    public enum Refusal: Error, Sendable, Hashable {
        /// Not a token at all (cut off, another format).
        case malformed
        /// The signature does not match: altered, or signed with another secret.
        case tampered
        /// Past its expiry.
        case expired
    }

    /// Signs a token for `complaintID` valid until `expiresAt` (whole seconds).
    public init(complaintID: UUID, expiresAt: Date, secret: String) {
        let expiry = Date(timeIntervalSince1970: expiresAt.timeIntervalSince1970.rounded(.down))
        self.complaintID = complaintID
        self.expiresAt = expiry
        self.signature = Self.sign(Self.signedPart(complaintID, expiry), secret: secret)
    }

    /// Checks `text` against `secret` at `now`.
    /// - Throws: A ``Refusal``: malformed before tampered before expired, so an altered expiry is tampered.
    public init(verifying text: String, secret: String, now: Date = Date()) throws(Refusal) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", parts[1].count == 32, let seconds = Int64(parts[2]), seconds > 0,
              let id = Self.uuid(hex: parts[1])
        else { throw .malformed }
        let expiry = Date(timeIntervalSince1970: TimeInterval(seconds))
        let expected = Self.sign(Self.signedPart(id, expiry), secret: secret)
        // Constant-time comparison of the two signatures.
        let given = Array(parts[3].utf8), wanted = Array(expected.utf8)
        guard given.count == wanted.count else { throw .tampered }
        var difference: UInt8 = 0
        for index in given.indices { difference |= given[index] ^ wanted[index] }
        guard difference == 0 else { throw .tampered }
        guard expiry > now else { throw .expired }
        self.complaintID = id
        self.expiresAt = expiry
        self.signature = String(parts[3])
    }

    public var description: String { Self.signedPart(complaintID, expiresAt) + "." + signature }

    private static func signedPart(_ id: UUID, _ expiry: Date) -> String {
        "v1.\(id.uuidString.lowercased().replacingOccurrences(of: "-", with: "")).\(Int64(expiry.timeIntervalSince1970))"
    }

    private static func sign(_ text: String, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return Data(mac).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    private static func uuid(hex: Substring) -> UUID? {
        let text = String(hex).lowercased()
        guard text.allSatisfy({ $0.isHexDigit }) else { return nil }
        let characters = Array(text)
        let dashed = String(characters[0..<8]) + "-" + String(characters[8..<12]) + "-" + String(characters[12..<16]) + "-"
            + String(characters[16..<20]) + "-" + String(characters[20..<32])
        return UUID(uuidString: dashed)
    }
}
