import Crypto
import Foundation

/// The credential in a guest's follow-up survey link (回访): a complaint id, the resolution it asks
/// about and an expiry, signed with HMAC-SHA-256 under a secret the notifier (which sends the link) and
/// intake (which serves the page) share. No API key is needed and nothing about the guest is in it.
///
/// Text form: `v2.<complaint id, 32 hex>.<resolved at, Unix milliseconds>.<expiry, Unix seconds>.<signature,
/// base64url>`; the signature covers everything before it. The older `v1.<id>.<expiry>.<signature>` (links
/// sent before tokens named their resolution) still verifies, with ``resolvedAt`` `nil`.
public struct SurveyToken: Sendable, Hashable, CustomStringConvertible {
    public var complaintID: UUID
    /// When the resolution this survey asks about was recorded (whole milliseconds, as events carry
    /// times); `nil` for a `v1` token, which names no resolution.
    public var resolvedAt: Date?
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

    /// Signs a token for the resolution of `complaintID` recorded at `resolvedAt` (whole milliseconds),
    /// valid until `expiresAt` (whole seconds); with `resolvedAt` `nil`, a `v1` token naming no resolution.
    public init(complaintID: UUID, resolvedAt: Date?, expiresAt: Date, secret: String) {
        let expiry = Date(timeIntervalSince1970: expiresAt.timeIntervalSince1970.rounded(.down))
        self.complaintID = complaintID
        self.resolvedAt = resolvedAt.map { Date(timeIntervalSince1970: Double(Self.milliseconds($0)) / 1000) }
        self.expiresAt = expiry
        self.signature = Self.sign(Self.signedPart(complaintID, self.resolvedAt, expiry), secret: secret)
    }

    /// A `v1` token (no resolution): what links sent before tokens named their resolution hold.
    public init(complaintID: UUID, expiresAt: Date, secret: String) {
        self.init(complaintID: complaintID, resolvedAt: nil, expiresAt: expiresAt, secret: secret)
    }

    /// `date` in whole Unix milliseconds, rounded as event times are (``resolvedAt``'s unit).
    public static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// Checks `text` against `secret` at `now`.
    /// - Throws: A ``Refusal``: malformed before tampered before expired, so an altered expiry is tampered.
    public init(verifying text: String, secret: String, now: Date = Date()) throws(Refusal) {
        var parts = text.split(separator: ".", omittingEmptySubsequences: false)
        var resolvedAt: Date?
        if parts.count == 5, parts[0] == "v2" {
            guard let milliseconds = Int64(parts[2]), milliseconds > 0 else { throw .malformed }
            resolvedAt = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            parts.remove(at: 2)
        } else if parts.count != 4 || parts[0] != "v1" {
            throw .malformed
        }
        guard parts[1].count == 32, let seconds = Int64(parts[2]), seconds > 0, let id = Self.uuid(hex: parts[1]) else { throw .malformed }
        let expiry = Date(timeIntervalSince1970: TimeInterval(seconds))
        let expected = Self.sign(Self.signedPart(id, resolvedAt, expiry), secret: secret)
        // Constant-time comparison of the two signatures.
        let given = Array(parts[3].utf8), wanted = Array(expected.utf8)
        guard given.count == wanted.count else { throw .tampered }
        var difference: UInt8 = 0
        for index in given.indices { difference |= given[index] ^ wanted[index] }
        guard difference == 0 else { throw .tampered }
        guard expiry > now else { throw .expired }
        self.complaintID = id
        self.resolvedAt = resolvedAt
        self.expiresAt = expiry
        self.signature = String(parts[3])
    }

    public var description: String { Self.signedPart(complaintID, resolvedAt, expiresAt) + "." + signature }

    private static func signedPart(_ id: UUID, _ resolvedAt: Date?, _ expiry: Date) -> String {
        let hex = id.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let seconds = Int64(expiry.timeIntervalSince1970)
        guard let resolvedAt else { return "v1.\(hex).\(seconds)" }
        return "v2.\(hex).\(milliseconds(resolvedAt)).\(seconds)"
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
