import Access
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// The secrets `redress up` makes for development and keeps under its data folder (mode 600), so
/// they survive restarts: the guest-key HMAC secret and an admin API key.
enum DevelopmentSecrets {
    /// The secret in `path`, created (48 random characters) if absent.
    static func loadOrCreate(_ path: String) throws -> String {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), existing.count >= 16 {
            // A copy restored or edited with a looser mode is made the owner's alone again.
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            return existing
        }
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        let secret = String((0..<48).map { _ in alphabet.randomElement(using: &generator)! })
        try write(secret, to: path)
        return secret
    }

    /// The development admin key in `file` if it still works, else a new one (its rate limit is
    /// high, so `redress loadgen` measures intake rather than the limiter).
    static func adminKey(file: String, database: DatabaseConfiguration, logger: Logger) async throws -> String {
        let client = PostgresClient(configuration: database.makeClientConfiguration(), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            let store = APIKeyStore()
            if let text = try? String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
               let key = APIKeySecret(parsing: Substring(text)),
               try await store.authenticate(key, client: client, logger: logger)?.role == .admin {
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
                return text
            }
            let created = try await store.create(name: "dev-admin", role: .admin, hotels: [], ratePerSecond: 1_000_000, client: client, logger: logger)
            try write(created.key.description, to: file)
            logger.info("development admin key created", metadata: ["key.id": "\(created.record.id)"])
            return created.key.description
        }
    }

    private static func write(_ text: String, to path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }
}
