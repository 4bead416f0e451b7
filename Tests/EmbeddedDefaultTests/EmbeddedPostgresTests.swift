import EmbeddedDefault
import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: TestEnvironment.hasLocalPostgres))
struct EmbeddedPostgresTests {
    @Test func startsAReachableServerOnLoopback() async throws {
        try await withEmbeddedPostgres(configuration: .forTesting, logger: .complaintTest) { server async throws in
            let configuration = try await server.databaseConfiguration
            guard case .tcp(let host, let port) = configuration.endpoint else {
                Issue.record("expected a TCP endpoint, got \(configuration.endpoint)")
                return
            }
            #expect(host == "127.0.0.1")
            #expect(await server.listeningPort == port)
            #expect(configuration.database == "redress")
            #expect(configuration.password?.isEmpty == false)
            // The URL is complete: parsing it gives the same configuration.
            #expect(try DatabaseConfiguration(url: try await server.databaseURL) == configuration)

            try await withClient(configuration) { client async throws in
                #expect(try await client.scalar("SELECT current_database()", as: String.self) == "redress")
                #expect(try await client.scalar("SELECT current_user", as: String.self) == "redress")
                #expect(try await client.scalar("SHOW listen_addresses", as: String.self) == "127.0.0.1")
                #expect(try await client.scalar("SHOW fsync", as: String.self) == "off")
                #expect(try await client.scalar("SHOW server_encoding", as: String.self) == "UTF8")
            }

            // The same server over its Unix socket.
            let socket = try #require(try await server.unixSocketDatabaseConfiguration)
            #expect(socket.unixSocketPath == "\(server.dataDirectory)/.s.PGSQL.\(port)")
            try await withClient(socket) { client async throws in
                #expect(try await client.scalar("SELECT 1", as: Int.self) == 1)
            }

            // A wrong password is refused over TCP.
            var wrong = configuration
            wrong.password = "wrong"
            await #expect(throws: (any Error).self) {
                _ = try await PostgresConnection.connect(
                    configuration: try wrong.makeConnectionConfiguration(), id: 1, logger: .complaintTest)
            }

            // As root, the server runs as an unprivileged account.
            let pid = try #require(await server.processID)
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let uidLine = try #require(status.split(separator: "\n").first { $0.hasPrefix("Uid:") })
            let uid = uidLine.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
            #expect(uid != 0)
            #expect(uid == geteuid() || geteuid() == 0)
        }
    }

    @Test func stopLeavesNoProcessBehind() async throws {
        let server = EmbeddedPostgres(configuration: .forTesting, logger: .complaintTest)
        try await server.start()
        let pid = try #require(await server.processID)
        // Open a session so that a backend exists too.
        try await withClient(try await server.databaseConfiguration) { client async throws in
            #expect(try await client.scalar("SELECT 1", as: Int.self) == 1)
            let processes = [pid] + Self.children(of: pid)
            #expect(processes.count > 3, "expected the postmaster and its helpers: \(processes)")

            try await server.stop()
            #expect(await !server.isRunning)
            #expect(await server.processID == nil)
            for process in processes {
                #expect(!Self.isAlive(process), "process \(process) survived stop()")
            }
            #expect(!FileManager.default.fileExists(atPath: server.dataDirectory + "/postmaster.pid"))
        }
        try await server.tearDown()
        let temporary = try #require(server.temporaryDirectory)
        #expect(!FileManager.default.fileExists(atPath: temporary))
    }

    @Test func restartKeepsPortAndData() async throws {
        try await withEmbeddedPostgres(configuration: .forTesting, logger: .complaintTest) { server async throws in
            let before = try await server.databaseConfiguration
            let firstPID = try #require(await server.processID)
            try await withClient(before) { client async throws in
                try await client.query("CREATE TABLE kept (value text)", logger: .complaintTest)
                try await client.query("INSERT INTO kept VALUES ('still here')", logger: .complaintTest)
            }
            try await server.restart()
            let after = try await server.databaseConfiguration
            #expect(after == before)
            #expect(await server.processID != firstPID)
            #expect(!Self.isAlive(firstPID))
            try await withClient(after) { client async throws in
                #expect(try await client.scalar("SELECT value FROM kept", as: String.self) == "still here")
            }
        }
    }

    @Test func reusesAnExistingDataDirectory() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("redress-reuse-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: root) }
        var configuration = EmbeddedPostgres.Configuration(dataDirectory: root + "/.redress/postgres")
        configuration.durable = true

        let first = try await withEmbeddedPostgres(configuration: configuration, logger: .complaintTest) { server async throws in
            let database = try await server.databaseConfiguration
            try await withClient(database) { client async throws in
                #expect(try await client.scalar("SHOW fsync", as: String.self) == "on")
                try await client.query("CREATE TABLE complaints_seen (id int)", logger: .complaintTest)
                try await client.query("INSERT INTO complaints_seen VALUES (7)", logger: .complaintTest)
            }
            return database
        }
        // A configured folder survives tearDown.
        #expect(FileManager.default.fileExists(atPath: root + "/.redress/postgres/PG_VERSION"))

        try await withEmbeddedPostgres(configuration: configuration, logger: .complaintTest) { server async throws in
            let database = try await server.databaseConfiguration
            #expect(database.password == first.password, "the stored password was not reused")
            try await withClient(database) { client async throws in
                #expect(try await client.scalar("SELECT id FROM complaints_seen", as: Int.self) == 7)
            }
        }
    }

    @Test func refusesAFolderThatIsNotACluster() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("redress-notacluster-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: root)
            // The folder's lock file lies beside it (it outlives a server's restarts).
            try? FileManager.default.removeItem(atPath: root + ".lock")
        }
        try "precious".write(toFile: root + "/notes.txt", atomically: true, encoding: .utf8)

        let server = EmbeddedPostgres(configuration: .init(dataDirectory: root), logger: .complaintTest)
        let error = try await #require(throws: EmbeddedPostgresError.self) { try await server.start() }
        #expect(error.code == .failed)
        #expect(error.reason.contains("neither empty nor a PostgreSQL data folder"))
        #expect(FileManager.default.fileExists(atPath: root + "/notes.txt"))
    }

    @Test func scopedHelperCleansUpWhenTheBodyThrows() async throws {
        struct Boom: Error {}
        let captured = LockedBox<(pid: Int32, folder: String)?>(nil)
        await #expect(throws: Boom.self) {
            try await withEmbeddedPostgres(configuration: .forTesting, logger: .complaintTest) { server async throws in
                captured.set((try #require(await server.processID), try #require(server.temporaryDirectory)))
                throw Boom()
            }
        }
        let (pid, folder) = try #require(captured.get())
        #expect(!Self.isAlive(pid))
        #expect(!FileManager.default.fileExists(atPath: folder))
    }

    /// When the parent process dies (simulated by dropping the lifeline the kernel would close), the watchdog stops
    /// the server and removes the temporary folder.
    @Test func watchdogStopsTheServerWhenTheParentDies() async throws {
        let server = EmbeddedPostgres(configuration: .forTesting, logger: .complaintTest)
        try await server.start()
        let pid = try #require(await server.processID)
        let folder = try #require(server.temporaryDirectory)
        let children = Self.children(of: pid)

        #expect(await server.simulateParentDeathForTesting())
        #expect(!Self.isAlive(pid))
        for child in children {
            #expect(await eventually { !Self.isAlive(child) }, "backend \(child) survived")
        }
        #expect(await eventually { !FileManager.default.fileExists(atPath: folder) }, "the watchdog left \(folder)")
    }

    @Test func runsAsAServiceUntilCancelled() async throws {
        let server = EmbeddedPostgres(configuration: .forTesting, logger: .complaintTest)
        let service = Task { try await server.run() }
        #expect(await eventually(timeout: .seconds(60)) { await server.isRunning })
        let pid = try #require(await server.processID)
        service.cancel()
        _ = await service.result
        #expect(await !server.isRunning)
        #expect(!Self.isAlive(pid))
        try await server.tearDown()
    }

    @Test func serviceFailsWhenTheServerDiesOnItsOwn() async throws {
        let server = EmbeddedPostgres(configuration: .forTesting, logger: .complaintTest)
        let service = Task { try await server.run() }
        #expect(await eventually(timeout: .seconds(60)) { await server.isRunning })
        let pid = try #require(await server.processID)
        kill(pid, SIGKILL)
        let outcome = await service.result
        guard case .failure(let error as EmbeddedPostgresError) = outcome else {
            Issue.record("run() did not fail with an EmbeddedPostgresError: \(outcome)")
            try await server.tearDown()
            return
        }
        #expect(error.code == .failed)
        #expect(error.reason.contains("unexpectedly"))
        #expect(await !server.isRunning)
        try await server.tearDown()
    }

    @Test func refusesASecondServerOnTheSameFolder() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("redress-twice-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: root) }
        var configuration = EmbeddedPostgres.Configuration.forTesting
        configuration.dataDirectory = root + "/data"
        try await withEmbeddedPostgres(configuration: configuration, logger: .complaintTest) { first async throws in
            let second = EmbeddedPostgres(configuration: configuration, logger: .complaintTest)
            let error = try await #require(throws: EmbeddedPostgresError.self) { try await second.start() }
            #expect(error.reason.contains("in use by another process"), "\(error.reason)")
            #expect(await first.isRunning)
        }
    }

    @Test("two servers started at once on one fresh folder: one runs, the other is refused, the cluster is whole")
    func twoFirstStartsAtOnce() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("redress-race-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: root) }
        var configuration = EmbeddedPostgres.Configuration.forTesting
        configuration.dataDirectory = root + "/data"
        let servers = [EmbeddedPostgres(configuration: configuration, logger: .complaintTest),
                       EmbeddedPostgres(configuration: configuration, logger: .complaintTest)]
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for server in servers { group.addTask { (try? await server.start()) != nil } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for server in servers { try? await server.tearDown() }
        #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
        // The folder holds one cluster that starts again with its stored password.
        try await withEmbeddedPostgres(configuration: configuration, logger: .complaintTest) { server async throws in
            try await withClient(try await server.databaseConfiguration) { client async throws in
                #expect(try await client.scalar("SELECT 1", as: Int.self) == 1)
            }
        }
    }

    @Test("a lock file naming a live postgres of another folder (a PID reused after a reboot) is stale: the server starts")
    func staleLockFileOfAReusedPID() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("redress-stale-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: root) }
        var configuration = EmbeddedPostgres.Configuration.forTesting
        configuration.dataDirectory = root + "/data"
        try await withEmbeddedPostgres(configuration: configuration, logger: .complaintTest) { _ async throws in }
        // Stopped; now the old PID is another live process called postgres (the system's server, say),
        // working in another folder.
        let impostor = root + "/postgres"
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: impostor)
        let other = try await LaunchedProgram.launch(impostor, arguments: ["60"], workingDirectory: root)
        defer { other.signal(SIGTERM) }
        // Until it has exec'd, its PID is a copy of this test runner, not a postgres: the lock would be
        // stale for the wrong reason.
        let execd = await eventually {
            (try? String(contentsOfFile: "/proc/\(other.pid)/comm", encoding: .utf8))?.hasPrefix("postgres") == true
        }
        try #require(execd, "the impostor never ran as postgres")
        let lockFile = root + "/data/postmaster.pid"
        try "\(other.pid)\n\(root)/data\n".write(toFile: lockFile, atomically: true, encoding: .utf8)
        try await withEmbeddedPostgres(configuration: configuration, logger: .complaintTest) { server async throws in
            #expect(await server.isRunning)
        }
    }

    @Test("another user's postmaster is told by the -D of its command line, which anyone may read")
    func dataFolderFromCommandLine() async throws {
        let (lines, printed) = AsyncStream.makeStream(of: String.self)
        let process = try await LaunchedProgram.launch(
            "/bin/sh", arguments: ["-c", "echo started; sleep 60; true", "-D", "/var/lib/postgresql/16/main"],
            output: .lines { printed.yield($0) })
        defer { process.signal(SIGTERM) }
        // Until the child has exec'd the shell, its command line is still this test runner's: wait for the
        // shell's first line rather than read /proc between fork and exec.
        var printedLines = lines.makeAsyncIterator()
        #expect(await printedLines.next() == "started")
        #expect(EmbeddedPostgres.dataFolderArgument(ofProcess: process.pid) == "/var/lib/postgresql/16/main")
        #expect(EmbeddedPostgres.dataFolderArgument(ofProcess: getpid()) == nil)
    }

    @Test func findsTheInstallation() async throws {
        let installation = try await PostgresInstallation.locate()
        #expect(installation.majorVersion >= 12)
        #expect(FileManager.default.isExecutableFile(atPath: installation.initdb))
        #expect(FileManager.default.isExecutableFile(atPath: installation.postgres))

        let error = try await #require(throws: EmbeddedPostgresError.self) {
            try await PostgresInstallation.locate(binDirectory: "/nonexistent/bin")
        }
        #expect(error.code == .unavailable)
    }

    // MARK: Helpers

    private static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let closing = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: closing)...].drop(while: { $0 == " " }).first
        return state != "Z" && state != "X"
    }

    private static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { candidate in
            guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
                let closing = stat.lastIndex(of: ")")
            else { return false }
            let fields = stat[stat.index(after: closing)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }
}
