import Crypto
import Foundation

/// The text of an API key, `rdk_<id>_<secret>`: the id finds the stored key, the secret proves
/// possession. Only the secret's SHA-256 is stored (the secret is 190 random bits, so a fast hash is
/// as strong as a slow one here).
public struct APIKeySecret: Sendable, Hashable, CustomStringConvertible {
    public static let prefix = "rdk_"

    public var id: String
    public var secret: String

    /// A fresh random key.
    public static func generate() -> APIKeySecret {
        APIKeySecret(id: randomString(length: 10), secret: randomString(length: 32))
    }

    public init(id: String, secret: String) {
        self.id = id
        self.secret = secret
    }

    /// Parses `rdk_<id>_<secret>`; `nil` for anything else.
    public init?(parsing text: Substring) {
        guard text.hasPrefix(Self.prefix), text.utf8.count <= 128 else { return nil }
        let rest = text.dropFirst(Self.prefix.count)
        guard let separator = rest.firstIndex(of: "_") else { return nil }
        let id = rest[..<separator]
        let secret = rest[rest.index(after: separator)...]
        guard !id.isEmpty, !secret.isEmpty,
              id.unicodeScalars.allSatisfy(Self.isKeyCharacter), secret.unicodeScalars.allSatisfy(Self.isKeyCharacter)
        else { return nil }
        self.id = String(id)
        self.secret = String(secret)
    }

    /// The full key as the caller sends it; print it once, at creation.
    public var description: String { "\(Self.prefix)\(id)_\(secret)" }

    public var secretSHA256: [UInt8] { Array(SHA256.hash(data: Array(secret.utf8))) }

    /// Compares `digest` with this secret's hash in time independent of where they differ.
    public func matches(sha256 digest: [UInt8]) -> Bool {
        let mine = secretSHA256
        guard mine.count == digest.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(mine, digest) { difference |= a ^ b }
        return difference == 0
    }

    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".unicodeScalars)

    private static func isKeyCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar))
    }

    private static func randomString(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String(String.UnicodeScalarView((0..<length).map { _ in alphabet.randomElement(using: &generator)! }))
    }
}
