import ArgumentParser
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
@preconcurrency import Glibc
import HotelTime
import SLAWatcher

/// `redress sla bench`: how late the SLA watcher's timers fire with many open timers, with one and with
/// two replicas sweeping one database, and the CPU a sweep uses while idle. Against the PostgreSQL of
/// `redress up` (`DATABASE_URL`), in a schema of its own that it drops afterwards. A benchmark: it prints figures.
struct SLABench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure timer lateness (p50/p99/max) with 1 and 2 replicas, and idle CPU with the timers open.")

    @Option(help: "Open timers (one complaint each).")
    var timers = 100_000

    @Option(help: "Seconds over which their deadlines are spread, from the start of each run.")
    var spread = 600

    @Option(name: .customLong("replicas"), help: "Sweeping replicas; repeat for several runs.")
    var replicaCounts: [Int] = [1, 2]

    @Option(help: "Seconds to measure idle CPU with every timer open and none due.")
    var idle = 30

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard replicaCounts.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--replicas must be 1 or more (a run without a sweep never finishes)") }
        guard timers >= 1, spread >= 0, idle >= 1 else { throw ValidationError("--timers and --idle must be 1 or more, --spread 0 or more") }
    }

    func run() async throws {
        let url = try self.database.url()
        var quiet = Logger(label: "redress.sla-bench")
        quiet.logLevel = .warning
        let logger = quiet
        let database = try DatabaseConfiguration(url: url)
        let policies = SLAPolicies(rules: [PolicyRule(name: "bench", response: .hours(1), resolve: .hours(2))])
        print("\(timers) open timers spread over \(spread) s; lateness = fired_at − due_at")
        for replicas in replicaCounts {
            let figures = try await withBenchSchema(database, replicas: replicas, logger: logger) { store, clients, schema in
                try await seed(store, dueIn: 2, spread: spread, logger: logger)
                try await sweepUntilDone(clients: clients, schema: schema, policies: policies, logger: logger)
                return try await store.read { connection, logger in
                    try await connection.query("""
                        SELECT count(*)::int,
                            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - due_at)),
                            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - due_at)),
                            max(extract(epoch FROM fired_at - due_at))::float8
                        FROM timers
                        """, logger: logger).collect()[0].decode((Int, Double, Double, Double).self)
                }
            }
            print(String(format: "%d replica%@: %d fired; lateness p50 %.0f ms, p99 %.0f ms, max %.0f ms",
                         replicas, replicas == 1 ? "" : "s", figures.0, figures.1 * 1000, figures.2 * 1000, figures.3 * 1000))
        }
        // Idle: every timer open and due in an hour.
        let cpu = try await withBenchSchema(database, replicas: 1, logger: logger) { store, clients, schema in
            try await seed(store, dueIn: 3600, spread: 600, logger: logger)
            return try await idleCPU(clients: clients, schema: schema, policies: policies, logger: logger)
        }
        print(String(format: "idle with %d open timers: %.2f %% of one core (%.3f s CPU in %d s)", timers, cpu / Double(idle) * 100, cpu, idle))
    }

    /// A fresh schema with the watcher's tables and `replicas` client pools, dropped afterwards.
    private func withBenchSchema<Result: Sendable>(
        _ database: DatabaseConfiguration, replicas: Int, logger: Logger,
        _ body: @Sendable (StageStore, [PostgresClient], SchemaName) async throws -> Result
    ) async throws -> Result {
        let schema = try SchemaName("sla_bench_\(UUID().uuidString.prefix(8).lowercased())")
        let service = RedressService(name: "sla-watcher", executable: "redress-sla-watcher", schema: schema, developmentPort: 0)
        let clients = (0..<max(1, replicas)).map { _ in
            PostgresClient(configuration: database.makeClientConfiguration(searchPath: schema), backgroundLogger: logger)
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: clients, gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // The pools are closed before the next phase starts, so one phase's figures are not another's.
            do {
                _ = try await Migrator(client: clients[0], logger: logger).apply(try service.migrations())
                let store = StageStore(client: clients[0], schema: schema, connectionsUseSchema: true, logger: logger)
                let result = try await body(store, clients, schema)
                try await Migrator(client: clients[0], logger: logger).drop(schema)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                try? await Migrator(client: clients[0], logger: logger).drop(schema)
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    /// One clock and one acknowledge-breach timer per complaint, due from `dueIn` seconds on, spread evenly.
    private func seed(_ store: StageStore, dueIn: Int, spread: Int, logger: Logger) async throws {
        let count = timers
        try await store.write { connection, logger in
            try await connection.query("""
                INSERT INTO clocks (complaint_id, hotel_id, department, category, severity, registered_at, resolve_started_at)
                SELECT md5('c' || i)::uuid, 'SHA-PD01', 'housekeeping', 'cleanliness', 'moderate', now(), now()
                FROM generate_series(1, \(count)) AS i
                """, logger: logger)
            try await connection.query("""
                INSERT INTO timers (complaint_id, timer, due_at)
                SELECT md5('c' || i)::uuid, 'acknowledge_breach',
                    now() + make_interval(secs => \(dueIn) + \(spread) * (i - 1)::float8 / \(count))
                FROM generate_series(1, \(count)) AS i
                """, logger: logger)
            return ((), [])
        }
    }

    /// Runs one sweep per client until no timer is left unfired.
    private func sweepUntilDone(clients: [PostgresClient], schema: SchemaName, policies: SLAPolicies, logger: Logger) async throws {
        let sweeps = clients.map { client in
            TimerSweep(
                clockwork: Clockwork(policies: policies),
                store: StageStore(client: client, schema: schema, connectionsUseSchema: true, logger: logger), client: client, logger: logger)
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: sweeps, gracefulShutdownSignals: [], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let store = StageStore(client: clients[0], schema: schema, connectionsUseSchema: true, logger: logger)
            while true {
                try await Task.sleep(for: .seconds(2))
                let left = try await store.read { connection, logger in
                    try await connection.query("SELECT count(*)::int FROM timers WHERE fired_at IS NULL", logger: logger).collect()[0].decode(Int.self)
                }
                if left == 0 { break }
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// This process's CPU seconds while one sweep idles for `idle` seconds.
    private func idleCPU(clients: [PostgresClient], schema: SchemaName, policies: SLAPolicies, logger: Logger) async throws -> Double {
        let sweep = TimerSweep(
            clockwork: Clockwork(policies: policies),
            store: StageStore(client: clients[0], schema: schema, connectionsUseSchema: true, logger: logger), client: clients[0], logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [sweep], gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .seconds(2))
            let before = Self.cpuSeconds()
            try await Task.sleep(for: .seconds(idle))
            let used = Self.cpuSeconds() - before
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return used
        }
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
