import ArgumentParser
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import EmbeddedDefault
import EventTail
import Foundation
import Logging
import RdKafka
import ServiceLifecycle
import UnixSignals

/// `redress up`: Redress on its embedded default, for development and demos.
///
/// Starts an embedded Kafka-protocol broker and a private PostgreSQL under `--data-dir` (or, with
/// `--external` only, uses `KAFKA_BROKERS` / `DATABASE_URL`: the operator tools take the same variables,
/// and a shell exported to tail production must not have a laptop stack join production's consumer
/// groups, migrate its database and post the demo day into it), applies migrations, starts every service executable
/// that has been built as a child process (logs in `<data-dir>/logs/<name>.log`, 0600 in a 0700 folder, restarted if it
/// dies), writes `<data-dir>/up.env`, and stops everything on Ctrl-C or SIGTERM. The embedded
/// PostgreSQL is supervised too: a server that dies is logged at `error` and started again.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run Redress on its embedded default until Ctrl-C."
    )

    @Option(help: "Folder for the embedded database, logs and up.env.")
    var dataDir = ".redress"

    @Option(help: "Brokers of the embedded Kafka cluster.")
    var brokers = 1

    @Option(help: "Partitions of each Redress topic on the embedded cluster.")
    var partitions = 6

    @Option(help: "Log level of this command and the services: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Flag(help: "Use the Kafka cluster in KAFKA_BROKERS and the PostgreSQL in DATABASE_URL, where set, instead of the embedded ones (without it both are ignored). Missing topics are created as `redress topics` does.")
    var external = false

    @Option(help: "With --external: replication factor of the topics created on that cluster (3 on a production cluster, 1 on a single broker).")
    var replicationFactor: Int?

    @Option(help: "With --external: days the topics created on that cluster keep their events (retention.ms), as `redress topics --retention-days`.")
    var retentionDays = 7

    @Option(help: "With --external: days the dead-letter topic created on that cluster keeps its records, as `redress topics --dead-letter-retention-days`.")
    var deadLetterRetentionDays = RedressTopicSpecifications.defaultDeadLetterRetentionDays

    @Flag(help: "Play the demo day of services/demo/day.jsonl once intake is ready (what `redress demo` does).")
    var demo = false

    func validate() throws {
        if let speed, !(1...100_000).contains(speed) { throw ValidationError("--speed is a factor from 1 to 100000") }
        // The services refuse an unknown LOG_LEVEL and would be restarted, failing, forever.
        guard Logger.Level(rawValue: logLevel.lowercased()) != nil else {
            throw ValidationError("unknown --log-level \(logLevel): one of trace, debug, info, notice, warning, error, critical")
        }
        if external && demo {
            throw ValidationError("the demo day posts sample complaints: it runs on the embedded default only, not with --external")
        }
        if !external && replicationFactor != nil { throw ValidationError("--replication-factor applies to --external only") }
        if let replicationFactor, !(1...7).contains(replicationFactor) { throw ValidationError("--replication-factor must be 1 to 7") }
        guard (1...3650).contains(retentionDays) else { throw ValidationError("--retention-days must be between 1 and 3650") }
        guard (1...3650).contains(deadLetterRetentionDays) else { throw ValidationError("--dead-letter-retention-days must be between 1 and 3650") }
        if external, ProcessInfo.processInfo.environment["KAFKA_BROKERS"].map({ !$0.isEmpty }) == true,
           !ProcessInfoEnvironment.shellHasSourcedValues, replicationFactor == nil
        {
            throw ValidationError("--external with KAFKA_BROKERS: pass --replication-factor for the topics it may create (3 on a production cluster, 1 on a single broker)")
        }
    }

    @Option(help: "Run SLA time this many times faster (SLA_TIME_SCALE of the sla-watcher: 60 makes a 5-minute response target 5 seconds; calendars run 24x7). For demos and tests; default 1, and 60 for the demo day.")
    var speed: Double?

    /// The speed in effect: as given, else real time (the demo day: 60×, a day in 24 minutes).
    var effectiveSpeed: Double { speed ?? (demo ? 60 : 1) }

    /// The sla-watcher's firing grace: wall time, so at a faster speed the default 5 s is minutes of SLA
    /// time (breaches ~7 simulated minutes late at 60x); 0.5 s then, unless the shell sets it.
    var firingGrace: String {
        guard effectiveSpeed > 1, ProcessInfo.processInfo.environment["SLA_FIRING_GRACE_SECONDS"] == nil else { return "" }
        return "0.5"
    }

    /// The demo's SMTP server (its mailbox is `<data-dir>/mailbox`).
    static let demoSMTPPort = 2525

    func run() async throws {
        try validate()  // again: `redress demo` sets demo after its options were validated
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logLevel = self.logLevel.lowercased()
        let logger = {
            var logger = Logger(label: "redress.up")
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return logger
        }()

        let fileManager = FileManager.default
        let root = dataDir.hasPrefix("/") ? dataDir : fileManager.currentDirectoryPath + "/" + dataDir
        // Nothing starts while another stack holds the fixed ports (a demo still running, or its leftovers).
        let binDirectory = URL(fileURLWithPath: Self.ownExecutablePath()).deletingLastPathComponent().path
        let built = RedressService.all.filter { fileManager.isExecutableFile(atPath: binDirectory + "/" + $0.executable) }
        let taken = LoopbackPorts.taken(built.map(\.developmentPort) + (demo ? [Self.demoSMTPPort, DemoMailbox.webhookPort] : []))
        guard taken.isEmpty else {
            throw ValidationError(
                "127.0.0.1 port\(taken.count == 1 ? "" : "s") \(taken.map(String.init).joined(separator: ", ")) \(taken.count == 1 ? "is" : "are") in use: "
                    + "is another `redress up` or demo still running? Stop it first (`ss -ltnp` names the process).")
        }
        // The services' logs may quote what guests sent: only this user reads them (folder 0700, files 0600).
        let logs = root + "/logs"
        try ServiceSupervisor.prepareLogFolder(logs)

        // The shell's KAFKA_BROKERS and DATABASE_URL count only with --external.
        if !external {
            for name in ["KAFKA_BROKERS", "DATABASE_URL"] where ProcessInfo.processInfo.environment[name].map({ !$0.isEmpty }) == true {
                print("note: \(name) is set in this shell and ignored: `redress up` runs the embedded default (--external uses it)")
            }
        }
        func externalSetting(_ name: String) -> String? { external ? ProcessInfoEnvironment.external(name, logger: logger) : nil }

        // Kafka: the embedded cluster unless --external and KAFKA_BROKERS names one.
        var cluster: EmbeddedKafkaCluster?
        let kafkaBrokers: String
        let kafkaOrigin: String
        if let externalBrokers = externalSetting("KAFKA_BROKERS") {
            kafkaBrokers = externalBrokers
            kafkaOrigin = "external, KAFKA_BROKERS"
            logger.info("using Kafka at KAFKA_BROKERS", metadata: ["kafka.bootstrap": "\(externalBrokers)"])
            // A cluster that does not create topics on first use (production ones should not) would leave
            // every outbox retrying; one that does would give them a single partition. Created as
            // `redress topics` does, replication and retention included (existing ones are left as they are).
            let admin = try KafkaAdminClient(bootstrapServers: KafkaBootstrap.servers(from: externalBrokers), logger: logger)
            let created = try await admin.createTopics(RedressTopicSpecifications.specifications(
                prefix: "", partitions: partitions, replicationFactor: replicationFactor ?? 1, retentionDays: retentionDays,
                deadLetterRetentionDays: deadLetterRetentionDays))
            if !created.isEmpty { logger.info("topics created", metadata: ["topics": "\(created.sorted().joined(separator: ","))"]) }
        } else {
            let embedded = try EmbeddedKafkaCluster(brokers: brokers, logger: logger)
            try embedded.ensureTopics(Topics.all.map { KafkaTopicSpecification(name: $0.name, partitions: partitions, replicationFactor: min(brokers, 3)) })
            cluster = embedded
            kafkaBrokers = embedded.bootstrapServers
            kafkaOrigin = "embedded"
            logger.info("embedded Kafka cluster started", metadata: ["kafka.bootstrap": "\(kafkaBrokers)"])
        }

        // PostgreSQL: a private, durable server under the data folder unless --external and DATABASE_URL names one.
        var postgres: EmbeddedPostgres?
        let database: DatabaseConfiguration
        if let url = externalSetting("DATABASE_URL") {
            database = try DatabaseConfiguration(url: url)
            logger.info("using PostgreSQL at DATABASE_URL", metadata: ["database": "\(database.redactedDescription)"])
        } else {
            var serverConfiguration = EmbeddedPostgres.Configuration(dataDirectory: root + "/postgres")
            // Six services' pools of up to 20 connections, the demo and the operator's commands.
            serverConfiguration.maxConnections = 200
            let server = EmbeddedPostgres(configuration: serverConfiguration, logger: logger)
            database = try await server.start()
            postgres = server
            logger.info("embedded PostgreSQL started", metadata: ["database": "\(database.redactedDescription)"])
        }

        do {
            let reports = try await MigrateCommand.migrate(database, logger: logger)
            logger.info("migrations applied", metadata: ["schemas": "\(reports.map { "\($0.schema)" }.joined(separator: ","))"])
            let guestKeySecret = try DevelopmentSecrets.loadOrCreate(root + "/guest-key.secret")
            let surveySecret = try DevelopmentSecrets.loadOrCreate(root + "/survey-token.secret")
            let adminKey = try await DevelopmentSecrets.adminKey(file: root + "/admin.key", database: database, logger: logger)

            // Services: every executable that has been built, next to this one.
            var children: [ServiceSupervisor.Child] = []
            var variables: [(name: String, value: String)] = [
                ("KAFKA_BROKERS", kafkaBrokers), ("DATABASE_URL", database.url), ("REDRESS_ADMIN_KEY", adminKey),
            ]
            for service in RedressService.all {
                let executable = binDirectory + "/" + service.executable
                guard fileManager.isExecutableFile(atPath: executable) else {
                    logger.info("\(service.executable) is not built yet; not started")
                    continue
                }
                children.append(ServiceSupervisor.Child(
                    name: service.name,
                    executable: executable,
                    environment: [
                        "KAFKA_BROKERS": kafkaBrokers, "DATABASE_URL": database.url,
                        // The topics made here carry no prefix: one exported in the shell must not reach them.
                        "KAFKA_TOPIC_PREFIX": "",
                        "HTTP_HOST": "127.0.0.1", "HTTP_PORT": String(service.developmentPort), "LOG_LEVEL": logLevel,
                        "REDRESS_GUEST_KEY_SECRET": guestKeySecret,
                        // Intake serves the survey page the notifier's links point at: one secret for both.
                        "SURVEY_TOKEN_SECRET": surveySecret,
                        // The notifier asks intake for guest contact details. In development it uses the
                        // admin key; in production give it a staff key for the hotels it serves.
                        "INTAKE_URL": "http://127.0.0.1:\(RedressService.intake.developmentPort)",
                        "INTAKE_API_KEY": adminKey,
                        // One replica per service here: a supervised restart takes its partitions back at once.
                        "KAFKA_GROUP_INSTANCE_ID": "\(service.executable)-1",
                        // The embedded broker holds empty fetches for the whole wait (README, `redress broker`).
                        "KAFKA_FETCH_WAIT_MAX_MS": cluster == nil ? "" : "10",
                        "SLA_TIME_SCALE": effectiveSpeed == 1 ? "" : String(effectiveSpeed),
                        "SLA_FIRING_GRACE_SECONDS": firingGrace,
                        // The demo's mailbox: a real SMTP server on loopback, plain text (it never leaves the machine).
                        "SMTP_HOST": demo ? "127.0.0.1" : "", "SMTP_PORT": demo ? String(Self.demoSMTPPort) : "", "SMTP_TLS": demo ? "off" : "",
                    // Empty values are left out, except the prefix: it must override the shell's.
                    ].filter { !$0.value.isEmpty || $0.key == "KAFKA_TOPIC_PREFIX" },
                    logFile: "\(logs)/\(service.name).log"
                ))
                variables.append((service.urlVariable, "http://127.0.0.1:\(service.developmentPort)"))
            }
            let envFile = root + "/up.env"
            let written = Dictionary(variables, uniquingKeysWith: { $1 })
            try UpEnvironmentFile(variables: variables + [
                (UpEnvironmentFile.sourcedVariable, envFile), (UpEnvironmentFile.digestVariable, UpEnvironmentFile.digest { written[$0] }),
            ]).write(to: envFile)

            print("Redress is up (Ctrl-C stops it)")
            print("  Kafka:      \(kafkaBrokers) (\(kafkaOrigin))")
            print("  PostgreSQL: \(database.redactedDescription) (\(postgres == nil ? "external, DATABASE_URL" : "embedded"))")
            print("  services:   \(children.isEmpty ? "none built yet" : children.map(\.name).joined(separator: ", "))")
            print("  intake API: http://127.0.0.1:\(RedressService.intake.developmentPort)/v1/complaints (Authorization: Bearer $REDRESS_ADMIN_KEY)")
            if children.contains(where: { $0.name == RedressService.assignment.name }) {
                print("  assignment: http://127.0.0.1:\(RedressService.assignment.developmentPort)/v1/hotels (organisation, on duty, history)")
            }
            if children.contains(where: { $0.name == RedressService.metrics.name }) {
                print("  dashboard:  http://127.0.0.1:\(RedressService.metrics.developmentPort)/ (sign in with $REDRESS_ADMIN_KEY or a manager key); KPIs: /v1/kpis")
            }
            var mailServer: LaunchedProgram?
            if demo {
                do {
                    mailServer = try await DemoMailbox.startSMTP(port: Self.demoSMTPPort, folder: URL(fileURLWithPath: root + "/mailbox"), logger: logger)
                    print("  mailbox:    \(root)/mailbox/ (every e-mail the notifier sends, via SMTP on 127.0.0.1:\(Self.demoSMTPPort))")
                } catch {
                    logger.warning("no demo mailbox: python3 with aiosmtpd is needed (make deps)", metadata: ["error": "\(error)"])
                }
                print("  webhooks:   \(root)/webhooks.jsonl (chat robots and the SMS gateway, received on 127.0.0.1:\(DemoMailbox.webhookPort))")
                print("  demo day:   \(effectiveSpeed)× — follow it with: .build/debug/redress tail --data-dir \(root)")
            }
            // Stopped (and waited for) after the group; on any other way out, told to stop.
            defer { mailServer?.signal(SIGTERM) }
            print("  settings:   . \(envFile)")
            fflushStandardOutput()

            let supervisor = ServiceSupervisor(children: children, logger: logger)
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            if let postgres {
                // First in the group, so it stops last: after the services.
                services.append(.init(service: PostgresSupervisor(server: postgres, logger: logger)))
            }
            services.append(.init(service: supervisor))
            if demo {
                let day = DemoDay(
                    intakeURL: "http://127.0.0.1:\(RedressService.intake.developmentPort)", apiKey: adminKey,
                    brokers: KafkaBootstrap.servers(from: kafkaBrokers), script: URL(fileURLWithPath: ServiceFiles.locate("services/demo/day.jsonl")),
                    mailbox: URL(fileURLWithPath: root + "/mailbox"), speed: effectiveSpeed, logger: logger)
                services.append(.init(service: DemoMailbox.webhookReceiver(log: URL(fileURLWithPath: root + "/webhooks.jsonl"), logger: logger)))
                services.append(.init(service: day, successTerminationBehavior: .ignore))
            }
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(
                services: services,
                // SIGHUP too: closing the terminal stops everything it started (the demo's mailbox included).
                gracefulShutdownSignals: [.sigterm, .sigint, .sighup],
                logger: logger
            ))
            if let parent = ProcessInfo.processInfo.environment[ServiceSupervisor.supervisorVariable].flatMap(Int32.init) {
                // Started by a program that says so (a test): end with it, even when it was killed and could not stop us.
                Task {
                    while getppid() == parent { try? await Task.sleep(for: .seconds(1)) }
                    logger.warning("the process that started redress up is gone; stopping")
                    await group.triggerGracefulShutdown()
                }
            }
            do {
                try await group.run()
            } catch {
                _ = await mailServer?.stop(grace: .seconds(10))
                throw error
            }
            _ = await mailServer?.stop(grace: .seconds(10))
        } catch {
            logger.error("redress up failed", metadata: ["error": "\(error)"])
            try? await postgres?.stop()
            throw error
        }
        try await postgres?.stop()
        withExtendedLifetime(cluster) {}
        logger.info("Redress stopped")
    }

    static func ownExecutablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// `redress demo`: `redress up --demo`.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run Redress on its embedded default and feed it sample complaints, until Ctrl-C."
    )

    @OptionGroup var up: UpCommand

    func run() async throws {
        var command = up
        command.demo = true
        try await command.run()
    }
}
