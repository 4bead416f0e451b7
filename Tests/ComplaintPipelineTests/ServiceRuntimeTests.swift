import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import NIOCore
import PostgresNIO
import Prometheus
import RdKafka
import RdKafkaTestKit
import Synchronization
import Testing

@Suite("Service settings")
struct ServiceSettingsTests {
    static func file(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("settings-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("environment beats the file, the file beats the defaults")
    func precedence() async throws {
        let path = try Self.file(#"{"kafka":{"brokers":"file:9092"},"http":{"port":9999},"log":{"level":"debug"}}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let settings = try await ServiceSettings.load(
            for: .classifier,
            environment: ["KAFKA_BROKERS": "env-a:9092, env-b:9092", "DATABASE_URL": "postgres://u:p@db/redress"],
            configurationFile: path)
        #expect(settings.kafkaBrokers == ["env-a:9092", "env-b:9092"])
        #expect(settings.httpPort == 9999)
        #expect(settings.logLevel == .debug)
        #expect(settings.httpHost == "0.0.0.0")
        #expect(settings.shutdownTimeout == .seconds(25))
        #expect(settings.databaseURL == "postgres://u:p@db/redress")
    }

    @Test("an empty file leaves the defaults; the port defaults to the service's")
    func defaults() async throws {
        // Empty, not missing: a file named but missing is refused, and the implicit one may exist locally.
        let empty = try Self.file("{}")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let settings = try await ServiceSettings.load(
            for: .notifier,
            environment: ["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/redress"],
            configurationFile: empty)
        #expect(settings.httpPort == RedressService.notifier.developmentPort)
        #expect(settings.logLevel == .info)
        #expect(settings.databasePoolSize == nil)
        #expect(settings.inboxRetention == nil)
        #expect(settings.statementBound == nil)
        let sized = try await ServiceSettings.load(
            for: .notifier,
            environment: ["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/redress", "DATABASE_POOL_SIZE": "12", "INBOX_RETENTION_DAYS": "30",
                          "OUTBOX_LEASE_SECONDS": "25", "DATABASE_STATEMENT_BOUND_SECONDS": "5"],
            configurationFile: empty)
        #expect(sized.databasePoolSize == 12)
        #expect(sized.inboxRetention == .seconds(30 * 86_400))
        #expect(sized.topicPrefix == "")
        #expect(sized.outboxLease == .seconds(25))
        #expect(sized.statementBound == .seconds(5))
    }

    /// A typo in the file's name started the service on the defaults (a 9-day inbox, the default
    /// lease) without a word.
    @Test("a configuration file named by REDRESS_CONFIG_FILE or the caller that does not exist is refused, naming it; the implicit one may be missing")
    func missingNamedFile() async throws {
        let environment = ["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x"]
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("notfier-\(UUID().uuidString).json").path
        await #expect {
            _ = try await ServiceSettings.load(for: .notifier, environment: environment.merging(["REDRESS_CONFIG_FILE": missing]) { $1 })
        } throws: { error in
            "\(error)" == "REDRESS_CONFIG_FILE names \(missing), which does not exist"
        }
        await #expect {
            _ = try await ServiceSettings.load(for: .notifier, environment: environment, configurationFile: missing)
        } throws: { error in
            "\(error)" == "the configuration file \(missing) does not exist"
        }
        // A service's own settings are read through the same reader.
        await #expect(throws: ServiceSettings.Invalid.self) {
            _ = try await ServiceSettings.configReader(for: .notifier, environment: ["REDRESS_CONFIG_FILE": missing])
        }
        // Unnamed (or set empty): services/notifier/notifier.json, read if it exists; the repository has none.
        let settings = try await ServiceSettings.load(for: .notifier, environment: environment.merging(["REDRESS_CONFIG_FILE": ""]) { $1 })
        #expect(settings.kafkaBrokers == ["k:9092"])
    }

    @Test("a number in the JSON file is read; a text that is not a number is refused, naming the setting")
    func numbersInTheFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good.json"), bad = directory.appendingPathComponent("bad.json")
        try Data(#"{"inbox": {"retention": {"days": 30}}}"#.utf8).write(to: good)
        try Data(#"{"inbox": {"retention": {"days": "30d"}}}"#.utf8).write(to: bad)
        let environment = ["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x"]
        let settings = try await ServiceSettings.load(for: .notifier, environment: environment, configurationFile: good.path)
        #expect(settings.inboxRetention == .seconds(30 * 86_400))
        await #expect {
            _ = try await ServiceSettings.load(for: .notifier, environment: environment, configurationFile: bad.path)
        } throws: { error in
            "\(error)".contains("INBOX_RETENTION_DAYS '30d' is not a whole number")
        }
    }

    @Test("missing or bad settings fail fast, naming the variable", arguments: [
        (["DATABASE_URL": "postgres://db/x"], "KAFKA_BROKERS is not set"),
        (["KAFKA_BROKERS": "k:9092"], "DATABASE_URL is not set"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "LOG_LEVEL": "loud"], "LOG_LEVEL 'loud'"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "HTTP_PORT": "70000"], "HTTP_PORT 70000"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "DATABASE_POOL_SIZE": "4"], "DATABASE_POOL_SIZE 4 is not between 10 and 500"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "KAFKA_TOPIC_PREFIX": "a b"], "KAFKA_TOPIC_PREFIX 'a b' may hold only"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "INBOX_RETENTION_DAYS": "0"], "INBOX_RETENTION_DAYS 0 is not between 1 and 3650"),
        // Set but not a number: refused, not replaced by the default.
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "INBOX_RETENTION_DAYS": "30d"], "INBOX_RETENTION_DAYS '30d' is not a whole number"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "HTTP_PORT": "8080x"], "HTTP_PORT '8080x' is not a whole number"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "DATABASE_POOL_SIZE": " 50"], "DATABASE_POOL_SIZE ' 50' is not a whole number"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "SHUTDOWN_TIMEOUT_SECONDS": "25s"], "SHUTDOWN_TIMEOUT_SECONDS '25s' is not a whole number"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "OUTBOX_LEASE_SECONDS": "90s"], "OUTBOX_LEASE_SECONDS '90s' is not a whole number"),
        // A 0.8 s message timeout for every message the producer sends: a leader election fails them all.
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "OUTBOX_LEASE_SECONDS": "2"], "OUTBOX_LEASE_SECONDS 2 is below 25: a publish may take half the lease"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "OUTBOX_LEASE_SECONDS": "24"], "OUTBOX_LEASE_SECONDS 24 is below 25"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "OUTBOX_LEASE_SECONDS": "601"], "OUTBOX_LEASE_SECONDS 601 is not between 25 and 600"),
        // Every pipeline transaction cut at once; or shorter than an HTTP request's statement may run.
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "DATABASE_STATEMENT_BOUND_SECONDS": "0"], "DATABASE_STATEMENT_BOUND_SECONDS 0 is below 1"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "DATABASE_STATEMENT_BOUND_SECONDS": "4"], "DATABASE_STATEMENT_BOUND_SECONDS 4 is below DATABASE_TIMEOUT_MS (5000 ms)"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "DATABASE_STATEMENT_BOUND_SECONDS": "86401"], "DATABASE_STATEMENT_BOUND_SECONDS 86401 is above 86400 (a day)"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "DATABASE_STATEMENT_BOUND_SECONDS": "9223372036854775807"], "DATABASE_STATEMENT_BOUND_SECONDS 9223372036854775807 is above 86400 (a day)"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "DATABASE_STATEMENT_BOUND_SECONDS": "9", "DATABASE_TIMEOUT_MS": "9500"], "DATABASE_STATEMENT_BOUND_SECONDS 9 is below DATABASE_TIMEOUT_MS (9500 ms)"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "ACCESS_RATE_PER_SECOND": "1e3"], "ACCESS_RATE_PER_SECOND '1e3' is not a whole number"),
        // A revoked key would work for a day.
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "ACCESS_KEY_CACHE_SECONDS": "86400"], "ACCESS_KEY_CACHE_SECONDS 86400 is not between 0 and 300"),
        (["KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/x", "ACCESS_KEY_CACHE_SECONDS": "-1"], "ACCESS_KEY_CACHE_SECONDS -1 is not between 0 and 300"),
    ])
    func invalid(environment: [String: String], expected: String) async throws {
        let empty = try Self.file("{}")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        await #expect {
            _ = try await ServiceSettings.load(for: .intake, environment: environment, configurationFile: empty)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }
}

@Suite("JSON logs")
struct JSONLogHandlerTests {
    @Test("one JSON object per line, guest personal data redacted at any depth")
    func redaction() throws {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "redress.test") { label in
            JSONLogHandler(label: label) { line in lines.withLock { $0.append(line) } }
        }
        logger.logLevel = .info
        logger.info("complaint registered", metadata: [
            "complaint.id": "c-1",
            "guest.name": "王小明",
            "guest.phone": "+86 138 0000 0000",
            "details": ["email": "guest@example.com", "channel": "wechat"],
        ])
        let line = try #require(lines.withLock { $0.first })
        #expect(line.hasSuffix("\n"))
        #expect(!line.contains("王小明") && !line.contains("138") && !line.contains("guest@example.com"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "complaint registered")
        #expect(object["level"] as? String == "info")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["complaint.id"] as? String == "c-1")
        #expect(metadata["guest.name"] as? String == "[redacted]")
        #expect((metadata["details"] as? [String: Any])?["email"] as? String == "[redacted]")
        #expect((metadata["details"] as? [String: Any])?["channel"] as? String == "wechat")
    }
}

@Suite("Operational routes", .timeLimit(.minutes(2)))
struct OperationalRoutesTests {
    /// The routes answer anyone on the port (intake's is public), and a reason may quote a failed
    /// migration's SQL and server detail or a broker's host: callers see the failing checks' names,
    /// the log their reasons.
    @Test("live, ready with a failing dependency (named, its reason only in the log), ready, and metrics")
    func routes() async throws {
        let healthy = Mutex(false)
        let logs = CapturedLogs()
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "complaints_received", unitName: "total", helpText: "Complaints received."))
            .increment(by: Int64(3))
        let router = Router()
        addOperationalRoutes(to: router, readiness: [
            ReadinessCheck(name: "postgres") {
                if !healthy.withLock({ $0 }) { throw RejectedEvent("connection refused by db-primary.internal:5432") }
            },
        ], registry: registry, resultLifetime: .zero, logger: Logger(label: "health", factory: { _ in logs }))
        let app = Application(router: router)
        try await app.test(.router) { client in
            try await client.execute(uri: "/health/live", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[.retryAfter] == "5")
                let body = String(buffer: response.body)
                #expect(body.contains("postgres") && !body.contains("refused") && !body.contains("db-primary"), "\(body)")
            }
            // Twice failing for the same reason: logged once.
            #expect(try await client.execute(uri: "/health/ready", method: .get).status == .serviceUnavailable)
            let warnings = logs.entries.filter { $0.level == .warning }
            #expect(warnings.count == 1 && warnings.first?.metadata["error"] == "postgres: connection refused by db-primary.internal:5432", "\(warnings)")
            healthy.withLock { $0 = true }
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("complaints_received_total 3"))
            }
        }
    }

    /// Each probe ran every check: a flood of them (several health checkers, or anyone on intake's
    /// public port) queued metadata calls on the producer's one probe queue and took pool slots.
    @Test("probes arriving while a check runs share it, and its answer stands for the result lifetime")
    func probesAreCoalesced() async throws {
        let runs = Mutex(0)
        let (released, release) = AsyncStream<Void>.makeStream()
        let router = Router()
        addOperationalRoutes(to: router, readiness: [
            ReadinessCheck(name: "postgres") {
                runs.withLock { $0 += 1 }
                for await _ in released {}
            },
        ], registry: PrometheusCollectorRegistry(), resultLifetime: .seconds(600))
        let app = Application(router: router)
        try await app.test(.router) { client in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<50 {
                    group.addTask { try await client.execute(uri: "/health/ready", method: .get).status }
                }
                #expect(await eventually(timeout: .seconds(30)) { runs.withLock { $0 } >= 1 })
                release.finish()
                var statuses: [HTTPResponse.Status] = []
                for try await status in group { statuses.append(status) }
                return statuses
            }
            #expect(statuses.count == 50 && statuses.allSatisfy { $0 == .ok })
            #expect(try await client.execute(uri: "/health/ready", method: .get).status == .ok)
            #expect(runs.withLock { $0 } == 1, "one check for 51 probes")
        }
    }

    @Test("Kafka and PostgreSQL readiness follow the real dependencies",
          .enabled(if: !KafkaTestEnvironment.usesExternalKafka, "takes the embedded broker down"))
    func realDependencies() async throws {
        let kafka = try KafkaTestEnvironment()
        let cluster = try #require(kafka.embedded)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withTestClient { postgres in
            let router = Router()
            addOperationalRoutes(to: router, readiness: [
                ReadinessCheck(name: "postgres") { _ = try await postgres.query("SELECT 1", logger: .complaintTest).collect() },
                ReadinessCheck(name: "kafka") { try await producer.checkConnectivity(timeout: .seconds(3)) },
            ], registry: PrometheusCollectorRegistry(), timeout: .seconds(5), resultLifetime: .zero)
            let app = Application(router: router)
            try await withRunningServices([producer]) {
                try await app.test(.router) { client in
                    // The producer's first metadata round trip may take a moment on a loaded machine.
                    let ready = try await eventually(timeout: .seconds(60)) {
                        try await client.execute(uri: "/health/ready", method: .get).status == .ok
                    }
                    #expect(ready)
                    try cluster.setBrokerDown(1)
                    try await client.execute(uri: "/health/ready", method: .get) { response in
                        #expect(response.status == .serviceUnavailable)
                        #expect(String(buffer: response.body).contains("kafka"))
                    }
                    try cluster.setBrokerUp(1)
                }
            }
        }
    }
}
