import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import Testing

@Suite struct DatabaseConfigurationTests {
    struct ValidCase: Sendable, CustomTestStringConvertible {
        var url: String
        var endpoint: DatabaseConfiguration.Endpoint
        var username: String
        var password: String?
        var database: String?
        var tlsMode: DatabaseConfiguration.TLSMode

        var testDescription: String { self.url }
    }

    static let validCases: [ValidCase] = [
        ValidCase(
            url: "postgres://user:pass@host:5433/db?sslmode=disable",
            endpoint: .tcp(host: "host", port: 5433), username: "user", password: "pass", database: "db",
            tlsMode: .disable),
        ValidCase(
            url: "postgresql://app@db.example.internal/complaints",
            endpoint: .tcp(host: "db.example.internal", port: 5432), username: "app", password: nil,
            database: "complaints", tlsMode: .prefer),
        ValidCase(
            url: "postgres://user@/db?host=/path/to/socketdir",
            endpoint: .unixSocket(directory: "/path/to/socketdir", port: 5432), username: "user", password: nil,
            database: "db", tlsMode: .prefer),
        ValidCase(
            url: "postgres://user:secret@/db?host=/run/pg&port=6001",
            endpoint: .unixSocket(directory: "/run/pg", port: 6001), username: "user", password: "secret",
            database: "db", tlsMode: .prefer),
        ValidCase(
            url: "postgres://user@%2Fvar%2Frun%2Fpostgresql:6000/db",
            endpoint: .unixSocket(directory: "/var/run/postgresql", port: 6000), username: "user", password: nil,
            database: "db", tlsMode: .prefer),
        ValidCase(
            url: "postgres://us%40er:p%3Ass%2Fw%25rd@[::1]:6543/my%20db?sslmode=require",
            endpoint: .tcp(host: "::1", port: 6543), username: "us@er", password: "p:ss/w%rd", database: "my db",
            tlsMode: .require),
        ValidCase(
            url: "postgres://a:b@h/d?user=override&password=other&port=7000&dbname=e&sslmode=verify-full",
            endpoint: .tcp(host: "h", port: 7000), username: "override", password: "other", database: "e",
            tlsMode: .verifyFull),
        ValidCase(
            url: "postgres://u@h?sslmode=verify-ca",
            endpoint: .tcp(host: "h", port: 5432), username: "u", password: nil, database: nil, tlsMode: .verifyCA),
        ValidCase(
            url: "postgres://u:@127.0.0.1:5432/d",
            endpoint: .tcp(host: "127.0.0.1", port: 5432), username: "u", password: "", database: "d",
            tlsMode: .prefer),
    ]

    @Test(arguments: Self.validCases)
    func parsesValidURL(_ testCase: ValidCase) throws {
        let configuration = try DatabaseConfiguration(url: testCase.url)
        #expect(configuration.endpoint == testCase.endpoint)
        #expect(configuration.username == testCase.username)
        #expect(configuration.password == testCase.password)
        #expect(configuration.database == testCase.database)
        #expect(configuration.tlsMode == testCase.tlsMode)
    }

    @Test(arguments: Self.validCases)
    func urlRoundTrips(_ testCase: ValidCase) throws {
        let configuration = try DatabaseConfiguration(url: testCase.url)
        let reparsed = try DatabaseConfiguration(url: configuration.url)
        #expect(reparsed == configuration)
    }

    @Test(arguments: [
        ("mysql://user@host/db", "postgres://"),
        ("postgres://user@host:99999/db", "port"),
        ("postgres://user@host:abc/db", "port"),
        ("postgres://user@host/db?sslmode=bogus", "sslmode"),
        ("postgres://user@host/db?pool_size=3", "pool_size"),
        ("postgres://user@h1,h2/db", "several hosts"),
        ("postgres://user@host/d%ZZ", "percent-encoding"),
        ("postgres://user@[::1/db", "IPv6"),
        ("postgres://user@host/db?connect_timeout=soon", "connect_timeout"),
    ])
    func rejectsInvalidURL(_ url: String, mentioning fragment: String) throws {
        let error = try #require(throws: ComplaintStoreError.self) {
            try DatabaseConfiguration(url: url)
        }
        #expect(error.code == .invalidDatabaseURL)
        #expect(error.reason.contains(fragment), "\(error.reason)")
    }

    @Test("a password with unencoded / or ? splits the URL wrongly: the error says so and quotes none of it", arguments: [
        ("postgres://app:s3cr/et@db/redress", "s3cr"),
        ("postgres://app:pa?xq9zk@db/redress", "xq9zk"),
        ("app:secret@db/x", "secret"),
        ("postgres://app:1234/s3cretx@db/x", "s3cretx"),
        ("postgres://app:pa@ss/wordy@db", "wordy"),
    ])
    func neverQuotesThePassword(_ url: String, secret: String) throws {
        let error = try #require(throws: ComplaintStoreError.self) { try DatabaseConfiguration(url: url) }
        #expect(!error.description.contains(secret), "\(error.description)")
        #expect(error.code == .invalidDatabaseURL)
    }

    @Test func socketPathIsDerivedFromDirectoryAndPort() throws {
        let configuration = try DatabaseConfiguration(url: "postgres://user@/db?host=/tmp/pg/&port=6100")
        #expect(configuration.unixSocketPath == "/tmp/pg/.s.PGSQL.6100")
        let client = configuration.makeClientConfiguration()
        #expect(client.unixSocketPath == "/tmp/pg/.s.PGSQL.6100")
        #expect(client.host == nil)
    }

    @Test func descriptionsNeverContainThePassword() throws {
        let secret = "Tr0ub4dor&3-very-secret"
        let configuration = try DatabaseConfiguration(
            url: "postgres://redress:\(secret.replacingOccurrences(of: "&", with: "%26"))@db:5432/redress?sslmode=disable")
        #expect(configuration.password == secret)
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in [configuration.description, configuration.redactedDescription, "\(configuration)",
                     String(reflecting: configuration), dumped]
        {
            #expect(!text.contains(secret), "leaked in \(text)")
            #expect(!text.contains("Tr0ub4dor"), "leaked in \(text)")
        }
        #expect(configuration.redactedDescription == "postgres://redress:***@db:5432/redress?sslmode=disable")
        #expect(configuration.url.contains("Tr0ub4dor%263"))
    }

    @Test func makesClientConfiguration() throws {
        let configuration = try DatabaseConfiguration(
            url: "postgres://svc:pw@10.1.2.3:6432/complaints?sslmode=disable&application_name=redress-intake&connect_timeout=7")
        let client = configuration.makeClientConfiguration()
        #expect(client.host == "10.1.2.3")
        #expect(client.port == 6432)
        #expect(client.username == "svc")
        #expect(client.password == "pw")
        #expect(client.database == "complaints")
        #expect(client.options.connectTimeout == .seconds(7))
        #expect(client.options.additionalStartupParameters.contains { $0.0 == "application_name" && $0.1 == "redress-intake" })
    }

    @Test func readsEnvironment() throws {
        let fromURL = try DatabaseConfiguration.fromEnvironment([
            "DATABASE_URL": "postgres://a:b@h:1234/d", "POSTGRES_HOSTNAME": "ignored",
        ])
        #expect(fromURL?.endpoint == .tcp(host: "h", port: 1234))

        let fromParts = try DatabaseConfiguration.fromEnvironment([
            "POSTGRES_HOSTNAME": "pg", "POSTGRES_PORT": "5544", "POSTGRES_USER": "tester",
            "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "tests", "POSTGRES_SSLMODE": "disable",
        ])
        #expect(fromParts == DatabaseConfiguration(
            endpoint: .tcp(host: "pg", port: 5544), username: "tester", password: "pw", database: "tests",
            tlsMode: .disable))

        let socket = try DatabaseConfiguration.fromEnvironment(["POSTGRES_HOSTNAME": "/var/run/postgresql"])
        #expect(socket?.endpoint == .unixSocket(directory: "/var/run/postgresql", port: 5432))

        #expect(try DatabaseConfiguration.fromEnvironment([:]) == nil)
        #expect(try DatabaseConfiguration.fromEnvironment(["DATABASE_URL": ""]) == nil)
        #expect(throws: ComplaintStoreError.self) {
            try DatabaseConfiguration.fromEnvironment(["POSTGRES_HOSTNAME": "pg", "POSTGRES_PORT": "x"])
        }
    }

    @Test(arguments: ["intake", "classifier", "sla", "_private", "t_0123abcd"])
    func acceptsSchemaName(_ name: String) throws {
        #expect(try SchemaName(name).rawValue == name)
    }

    @Test(arguments: ["", "Intake", "1abc", "pg_catalog", "drop table x", "a-b", "a;b", "é", String(repeating: "a", count: 64)])
    func rejectsSchemaName(_ name: String) throws {
        let error = try #require(throws: ComplaintStoreError.self) { try SchemaName(name) }
        #expect(error.code == .invalidSchemaName)
    }
}
