import Access
import ArgumentParser
import ComplaintEvents
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// `redress apikey create|list|revoke`: the credentials of intake's HTTP API, stored hashed.
struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apikey",
        abstract: "Create, list and revoke intake API keys (stored only as hashes).",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it once.")

        @Option(help: "Who uses it: a staff id (fd-li.wei) or a system (opera-pms); the timeline's actor.")
        var name: String

        @Option(help: "publisher (submit only), staff, manager or admin (all hotels).")
        var role: AccessRole

        @Option(name: .customLong("hotel"), help: "A hotel the key may see (repeat for several); not for admin.")
        var hotels: [String] = []

        @Option(help: "Requests per second for this key (default: the service's ACCESS_RATE_PER_SECOND).")
        var ratePerSecond: Int?

        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard name.range(of: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", options: .regularExpression) != nil else {
                throw ValidationError("--name must be letters, digits, '.', '_' or '-' (at most 64), starting with a letter or digit")
            }
            if role == .admin && !hotels.isEmpty { throw ValidationError("an admin key covers every hotel; drop --hotel") }
            if role != .admin && hotels.isEmpty { throw ValidationError("a \(role.rawValue) key needs at least one --hotel") }
            if let ratePerSecond, ratePerSecond < 1 { throw ValidationError("--rate-per-second must be at least 1") }
            // A hotel id as events carry it (`hotelid`, `data.hotelId`): a key for "" or "A,B" would see no hotel's complaints.
            for hotel in hotels where !TextPattern.identifier.matches(hotel) {
                throw ValidationError("--hotel '\(hotel)' is not a hotel id: \(TextPattern.identifier.meaning), such as SHA-PD01 (repeat --hotel for several)")
            }
        }

        func run() async throws {
            let (name, role, hotels, rate) = (name, role, hotels, ratePerSecond)
            let created = try await database.withClient { client, logger in
                try await APIKeyStore().create(name: name, role: role, hotels: hotels, ratePerSecond: rate, client: client, logger: logger)
            }
            print(created.key.description)
            FileHandle.standardError.write(Data("key \(created.record.id) (\(role.rawValue)) created; it is shown only this once\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let records = try await database.withClient { client, logger in try await APIKeyStore().list(client: client, logger: logger) }
            print("id          role       name                 hotels                 state")
            for record in records {
                let hotels = record.role == .admin ? "*" : record.hotels.joined(separator: ",")
                let state = record.revokedAt.map { "revoked \(ISO8601DateFormatter().string(from: $0))" } ?? "active"
                print([record.id.padding(12), record.role.rawValue.padding(10), record.name.padding(20), hotels.padding(22), state].joined(separator: " "))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key (effective within ACCESS_KEY_CACHE_SECONDS).")

        @Argument(help: "The key id (the part after rdk_ and before the next _), as `list` shows it.")
        var id: String

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let id = id
            let revoked = try await database.withClient { client, logger in try await APIKeyStore().revoke(id: id, client: client, logger: logger) }
            guard revoked else { throw CommandFailure("no active key \(id)") }
            print("revoked \(id)")
        }
    }
}

extension AccessRole: ExpressibleByArgument {}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

extension DatabaseOptions {
    /// Runs `body` with a client of the database the options name (`redress apikey`).
    func withClient<Result: Sendable>(_ body: @Sendable (PostgresClient, Logger) async throws -> Result) async throws -> Result {
        let logger = Logger(label: "redress.apikey")
        let client = PostgresClient(configuration: try DatabaseConfiguration(url: try url()).makeClientConfiguration(), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client, logger)
        }
    }
}
