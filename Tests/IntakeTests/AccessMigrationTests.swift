import Access
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Testing

@Suite("API keys move from intake to the shared access schema", .timeLimit(.minutes(3)))
struct AccessMigrationTests {
    @Test("a key issued into intake.api_keys before the access layer still authenticates afterwards")
    func existingKeysKeepWorking() async throws {
        var configuration = try await TestDatabase.shared.configuration()
        let name = "access_migration_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await withClient(configuration) { admin in
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: .complaintTest)
        }
        configuration.database = name
        do {
            try await withClient(configuration) { client in
                let migrator = Migrator(client: client, logger: .complaintTest)
                // The release before the access layer: intake's first migration, keys in intake.api_keys.
                let intake = try RedressService.intake.migrations()
                let firstIntakeRelease = try MigrationSet(schema: "intake", migrations: [try #require(intake[1].migrations.first)])
                _ = try await migrator.apply([intake[0], firstIntakeRelease])
                let key = APIKeySecret.generate()
                try await client.query("""
                    INSERT INTO intake.api_keys (id, name, role, hotels, secret_sha256, rate_per_second, created_at)
                    VALUES (\(key.id), 'fd-li.wei', 'staff', \(["SHA-PD01"]), \(Data(key.secretSHA256)), 20, now())
                    """, logger: .complaintTest)

                // This release: the access schema first, then intake's own (which drops its old table).
                _ = try await migrator.apply([try AccessTables.migrations()] + intake)
                let caller = try await APIKeyStore(cacheLifetime: .zero).authenticate(key, client: client, logger: .complaintTest)
                #expect(caller == Caller(keyID: key.id, name: "fd-li.wei", role: .staff, hotels: ["SHA-PD01"], ratePerSecond: 20))
                let wrongSecret = APIKeySecret(id: key.id, secret: "not-the-secret")
                #expect(try await APIKeyStore(cacheLifetime: .zero).authenticate(wrongSecret, client: client, logger: .complaintTest) == nil)
                let oldTable = try await client.query("SELECT to_regclass('intake.api_keys')::text", logger: .complaintTest)
                    .collect().first?.decode(String?.self)
                #expect(oldTable == .some(nil), "intake no longer keeps keys")
            }
        } catch {
            try? await Self.drop(name)
            throw error
        }
        try await Self.drop(name)
    }

    static func drop(_ name: String) async throws {
        _ = try await withClient(try await TestDatabase.shared.configuration()) { admin in
            try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: .complaintTest)
        }
    }
}
