import ComplaintStore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A private PostgreSQL server run from the machine's own installation, for tests and for `redress up`.
///
/// - **Data folder.** `initdb` runs on first use; a folder that already holds a cluster (for example
///   `.redress/postgres`) is reused with its data. Without a configured folder a temporary one is created and
///   removed again by ``tearDown()``.
/// - **Network.** The server listens on 127.0.0.1 only, on a free port picked at first start (kept across
///   restarts so that clients reconnect), and on a Unix socket inside the data folder. TCP logins use a
///   generated password (SCRAM), kept in the data folder; socket logins are trusted, and only the folder's owner
///   can reach the socket.
/// - **Root.** PostgreSQL refuses to run as root, so as root the folder is given to an unprivileged account
///   (`postgres`, else `nobody`) and `initdb` and the server run through `setpriv --reuid … --clear-groups`, which
///   `exec`s, so the PID stays the server's. Every folder above the data folder must be traversable by that account.
/// - **Lifetime.** ``stop()`` sends `SIGINT` (fast shutdown), waits, then `SIGKILL`s. With
///   ``Configuration/stopsWithProcess`` (the default) the server also stops when this process exits: an `atexit`
///   handler stops it synchronously on a normal exit, and a ``Watchdog`` process, one per instance, stops it and
///   removes the temporary folder when this process dies any other way (`SIGKILL`, a crash).
/// - **Service.** As a ServiceLifecycle `Service`, ``run()`` starts the server if needed, keeps it running until
///   graceful shutdown, then stops it; it throws if the server dies on its own.
///
/// Server logs go to ``serverLogPath``, without statement texts or error details (`log_error_verbosity=terse`,
/// `log_min_error_statement=panic`) so that guests' personal data never lands in them.
public actor EmbeddedPostgres: Service {
    /// The settings this instance was created with.
    public nonisolated let configuration: Configuration
    /// The absolute path of the cluster folder.
    public nonisolated let dataDirectory: String
    /// The server's log file, next to the data folder.
    public nonisolated let serverLogPath: String
    /// The temporary folder this instance owns, if no data folder was configured.
    public nonisolated let temporaryDirectory: String?

    private let logger: Logger
    /// The `flock`ed descriptor of `<data folder>.lock` while this instance runs a server on the folder.
    private var folderLock: Int32 = -1
    private var installation: PostgresInstallation?
    private var port: Int?
    private var password: String?
    private var server: GuardedProcess?
    private var watchdog: Watchdog?
    private var exitGuardToken: Int?
    /// Lifecycle operations suspend; this keeps them from interleaving (an actor alone is re-entrant).
    private var operationInProgress = false
    private var operationWaiters: [CheckedContinuation<Void, Never>] = []

    /// The file in the data folder holding the superuser's generated password.
    static let passwordFileName = "redress-superuser.password"

    /// Creates an instance; nothing happens on disk until ``start()``.
    public init(configuration: Configuration = .init(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.port = configuration.port
        if let dataDirectory = configuration.dataDirectory {
            self.dataDirectory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
            self.temporaryDirectory = nil
            self.serverLogPath = self.dataDirectory + ".log"
        } else {
            let root = FileManager.default.temporaryDirectory
                .appendingPathComponent("redress-postgres-\(randomHex(byteCount: 6))").path
            self.temporaryDirectory = root
            self.dataDirectory = root + "/data"
            self.serverLogPath = root + "/server.log"
        }
    }

    // MARK: Connection details

    /// Whether the server is up: started, accepting connections, and its process alive.
    public var isRunning: Bool {
        self.server?.isRunning ?? false
    }

    /// The postmaster's process id while running.
    public var processID: Int32? {
        guard let server = self.server, server.isRunning else { return nil }
        return server.pid
    }

    /// The port the server listens on (TCP, and in the socket name); `nil` before the first start.
    public var listeningPort: Int? {
        self.password == nil ? nil : self.port
    }

    /// How to connect: over TCP to 127.0.0.1 if enabled, else over the Unix socket; with the generated password.
    ///
    /// - Throws: An ``EmbeddedPostgresError`` before the first ``start()``.
    public var databaseConfiguration: DatabaseConfiguration {
        get throws {
            let (port, password) = try self.requireStarted()
            return self.configuration.listensOnTCP
                ? self.tcpConfiguration(port: port, password: password)
                : self.socketConfiguration(port: port, password: password)
        }
    }

    /// How to connect over the Unix socket in the data folder, or `nil` if the server does not listen on one.
    public var unixSocketDatabaseConfiguration: DatabaseConfiguration? {
        get throws {
            guard self.socketEnabled else { return nil }
            let (port, password) = try self.requireStarted()
            return self.socketConfiguration(port: port, password: password)
        }
    }

    /// ``databaseConfiguration`` as a URL, including the password (hand it to child processes; do not log it).
    public var databaseURL: String {
        get throws { try self.databaseConfiguration.url }
    }

    /// A PostgresNIO client configuration for ``databaseConfiguration``.
    public func makeClientConfiguration() throws -> PostgresClient.Configuration {
        try self.databaseConfiguration.makeClientConfiguration()
    }

    // MARK: Lifecycle

    /// Initialises the data folder if needed, starts the server, waits until it accepts connections, and creates
    /// the database if missing. Does nothing if the server is already running.
    ///
    /// - Returns: ``databaseConfiguration``.
    /// - Throws: A ``EmbeddedPostgresError`` (``EmbeddedPostgresError/Code/unavailable`` without an
    ///   installation, ``EmbeddedPostgresError/Code/failed`` otherwise) including the end of the
    ///   server or `initdb` output.
    @discardableResult
    public func start() async throws -> DatabaseConfiguration {
        await self.beginOperation()
        defer { self.endOperation() }
        return try await self.startServer()
    }

    /// Stops the server (fast shutdown, then `SIGKILL` after ``Configuration/shutdownTimeout``) and waits until it
    /// has exited. The data folder is kept. Does nothing if the server is not running.
    public func stop() async throws {
        await self.beginOperation()
        defer { self.endOperation() }
        try await self.stopRunningServer()
    }

    /// Stops and starts the server on the same data folder and port.
    public func restart() async throws {
        await self.beginOperation()
        defer { self.endOperation() }
        // The folder stays locked in between: no other process takes it mid-restart.
        try await self.stopRunningServer(keepingLock: true)
        _ = try await self.startServer()
    }

    /// Stops the server and, if this instance created a temporary folder, deletes it. A configured data folder is
    /// kept.
    public func tearDown() async throws {
        await self.beginOperation()
        defer { self.endOperation() }
        try await self.stopRunningServer()
        if let temporaryDirectory = self.temporaryDirectory {
            if FileManager.default.fileExists(atPath: temporaryDirectory) {
                try FileManager.default.removeItem(atPath: temporaryDirectory)
            }
            ServerExitGuard.unregisterTemporaryDirectory(temporaryDirectory)
        }
        self.watchdog?.standDown()
        self.watchdog = nil
        self.password = nil
    }

    private func beginOperation() async {
        if self.operationInProgress {
            await withCheckedContinuation { self.operationWaiters.append($0) }
        } else {
            self.operationInProgress = true
        }
    }

    private func endOperation() {
        if self.operationWaiters.isEmpty {
            self.operationInProgress = false
        } else {
            self.operationWaiters.removeFirst().resume()
        }
    }

    private func startServer() async throws -> DatabaseConfiguration {
        if let server = self.server, server.isRunning {
            return try self.databaseConfiguration
        }
        self.forgetServer()
        guard self.configuration.listensOnTCP || self.socketEnabled else {
            throw EmbeddedPostgresError.failed(
                "configuration enables neither TCP nor a Unix socket (or the socket path under "
                    + "\(self.dataDirectory) is too long or contains spaces or commas)")
        }

        let installation: PostgresInstallation
        if let known = self.installation {
            installation = known
        } else {
            installation = try await PostgresInstallation.locate(binDirectory: self.configuration.binDirectory)
            self.installation = installation
        }
        let serverUser = try self.resolveServerUser()
        try self.prepareDirectories(for: serverUser)
        try self.lockFolder()
        do {
            return try await self.startLockedServer(installation, serverUser: serverUser)
        } catch {
            self.unlockFolder()
            throw error
        }
    }

    /// Takes `<data folder>.lock` (an exclusive `flock`, held while the server runs): two `redress up`
    /// started at once on one fresh folder would otherwise run two `initdb`s into it.
    private func lockFolder() throws {
        guard self.folderLock < 0 else { return }
        let path = self.dataDirectory + ".lock"
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw EmbeddedPostgresError.failed("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw EmbeddedPostgresError.failed(
                "\(self.dataDirectory) is in use by another process (another `redress up`?): \(path) is locked")
        }
        self.folderLock = descriptor
    }

    private func unlockFolder() {
        guard self.folderLock >= 0 else { return }
        close(self.folderLock)
        self.folderLock = -1
    }

    private func startLockedServer(_ installation: PostgresInstallation, serverUser: POSIX.User?) async throws -> DatabaseConfiguration {
        if self.configuration.stopsWithProcess && self.watchdog == nil {
            do {
                self.watchdog = try await Watchdog.start(cleanupDirectory: self.temporaryDirectory)
            } catch {
                throw EmbeddedPostgresError.failed("cannot start the watchdog: \(error)", underlying: error)
            }
        }
        if FileManager.default.fileExists(atPath: self.dataDirectory + "/PG_VERSION") {
            try self.adoptExistingCluster(installation)
        } else {
            try await self.initializeCluster(installation, serverUser: serverUser)
        }
        try self.refuseIfAnotherServerRuns()

        let portIsFixed = self.port != nil
        var attempt = 0
        while true {
            attempt += 1
            let port = try self.port ?? POSIX.unusedLoopbackPort()
            let server = try await self.launch(installation, port: port, serverUser: serverUser)
            if self.configuration.stopsWithProcess {
                self.exitGuardToken = ServerExitGuard.register(.init(
                    pid: server.pid,
                    watchdog: self.watchdog,
                    temporaryDirectory: self.temporaryDirectory
                ))
            }
            do {
                try await self.waitUntilReady(server, port: port)
                // Only a server that accepts connections counts as running.
                self.server = server
                self.port = port
                break
            } catch let error as StartupFailure {
                self.forgetServer(launched: server)
                if error.portInUse && !portIsFixed && attempt < 5 {
                    self.logger.debug("Port taken before the server could bind it; trying another", metadata: ["port": "\(port)"])
                    continue
                }
                throw EmbeddedPostgresError.failed(error.message)
            } catch {
                await self.stopServer(server)
                self.forgetServer(launched: server)
                throw error
            }
        }

        let configuration = try self.databaseConfiguration
        self.logger.info(
            "Embedded PostgreSQL is ready",
            metadata: [
                "url": "\(configuration.redactedDescription)", "pid": "\(self.server?.pid ?? 0)",
                "data": "\(self.dataDirectory)", "durable": "\(self.configuration.durable)",
            ]
        )
        return configuration
    }

    private func stopRunningServer(keepingLock: Bool = false) async throws {
        guard let server = self.server else {
            // Gone already (it exited on its own): the folder is free.
            if !keepingLock { self.unlockFolder() }
            return
        }
        await self.stopServer(server)
        self.forgetServer()
        if !server.isRunning && !keepingLock { self.unlockFolder() }
        if server.isRunning {
            throw EmbeddedPostgresError.failed("the server (pid \(server.pid)) did not exit even after SIGKILL")
        }
        self.logger.info("Embedded PostgreSQL stopped", metadata: ["data": "\(self.dataDirectory)"])
    }

    /// Runs as a `Service`: starts the server if needed, keeps it until graceful shutdown or cancellation, then
    /// stops it.
    ///
    /// - Throws: An ``EmbeddedPostgresError`` if the server cannot start or exits on its own.
    public func run() async throws {
        try await self.start()
        while let server = self.server {
            let program = server.program
            do {
                try await cancelWhenGracefulShutdown {
                    // nil: cancelled (graceful shutdown) before the server exited.
                    if await program.exited() == nil { throw CancellationError() }
                }
            } catch is CancellationError {
                try await self.stop()
                return
            }
            // A restart in progress stops the old process on purpose: let it finish before judging.
            await self.beginOperation()
            self.endOperation()
            guard self.server === server else {
                continue  // restarted meanwhile: watch the new process
            }
            let exit = program.exit.map { "\($0)" } ?? "exited"
            self.forgetServer()
            throw EmbeddedPostgresError.failed(
                "the embedded server \(exit) unexpectedly; log tail:\n\(self.serverLogTail())")
        }
    }

    /// Closes the watchdog's lifeline without standing it down, as if this process had died, so the watchdog stops
    /// the server and removes the temporary folder. Only for testing the watchdog.
    package func simulateParentDeathForTesting() async -> Bool {
        guard let server = self.server, let watchdog = self.watchdog else { return false }
        if let token = self.exitGuardToken {
            ServerExitGuard.unregister(token)
            self.exitGuardToken = nil
        }
        if let temporaryDirectory = self.temporaryDirectory {
            ServerExitGuard.unregisterTemporaryDirectory(temporaryDirectory)
        }
        watchdog.abandon()
        let stopped = await server.program.waitForExit(timeout: .seconds(30)) != nil
        self.server = nil
        self.watchdog = nil
        self.password = nil
        return stopped
    }

    // MARK: - Steps

    private var socketEnabled: Bool {
        guard self.configuration.listensOnUnixSocket else { return false }
        let path = self.dataDirectory + "/.s.PGSQL.65535.lock"
        let awkward = self.dataDirectory.contains(where: { $0 == " " || $0 == "," || $0 == "\"" || $0 == "'" || $0 == "\\" })
        return !awkward && path.utf8.count < POSIX.maximumSocketPathLength
    }

    private func requireStarted() throws -> (port: Int, password: String) {
        guard let port = self.port, let password = self.password else {
            throw EmbeddedPostgresError.failed("the embedded server has not been started")
        }
        return (port, password)
    }

    private func tcpConfiguration(port: Int, password: String) -> DatabaseConfiguration {
        DatabaseConfiguration(
            endpoint: .tcp(host: "127.0.0.1", port: port),
            username: self.configuration.username,
            password: password,
            database: self.configuration.database,
            tlsMode: .disable
        )
    }

    private func socketConfiguration(port: Int, password: String) -> DatabaseConfiguration {
        DatabaseConfiguration(
            endpoint: .unixSocket(directory: self.dataDirectory, port: port),
            username: self.configuration.username,
            password: password,
            database: self.configuration.database,
            tlsMode: .disable
        )
    }

    /// Drops the current server (or one that never finished starting): no exit guard, no watchdog guard.
    private func forgetServer(launched: GuardedProcess? = nil) {
        if let token = self.exitGuardToken {
            ServerExitGuard.unregister(token)
            self.exitGuardToken = nil
        }
        if self.server != nil || launched != nil {
            self.watchdog?.release()
        }
        self.server = nil
    }

    /// Stops `server`: stand the watchdog down, `SIGINT`, wait, `SIGKILL`, wait.
    private func stopServer(_ server: GuardedProcess) async {
        guard server.isRunning else { return }
        server.signal(SIGINT)
        if await server.program.waitForExit(timeout: self.configuration.shutdownTimeout) != nil {
            return
        }
        self.logger.info(
            "Embedded PostgreSQL did not shut down in time; killing it",
            metadata: ["pid": "\(server.pid)", "timeout": "\(self.configuration.shutdownTimeout)"]
        )
        let backends = POSIX.childProcesses(of: server.pid)
        server.signal(SIGKILL)
        _ = await server.program.waitForExit(timeout: .seconds(10))
        // Backends notice the postmaster's death on their own; do not leave that to chance.
        for backend in backends where GuardedProcess.isAlive(backend) {
            if POSIX.commandName(of: backend) == "postgres" {
                kill(backend, SIGKILL)
            }
        }
    }

    private func resolveServerUser() throws -> POSIX.User? {
        guard POSIX.isRoot else { return nil }
        let names = self.configuration.serverUser.map { [$0] } ?? ["postgres", "nobody"]
        for name in names {
            if let user = POSIX.lookUpUser(named: name), user.uid != 0 {
                guard POSIX.isExecutable("/usr/bin/setpriv") || POSIX.findInPath("setpriv", path: ProcessInfo.processInfo.environment["PATH"]) != nil else {
                    throw EmbeddedPostgresError.unavailable(
                        "running as root needs setpriv (util-linux) to start PostgreSQL as '\(name)'")
                }
                return user
            }
        }
        throw EmbeddedPostgresError.unavailable(
            "running as root, and no unprivileged account to run PostgreSQL as (tried \(names.joined(separator: ", "))); "
                + "create one or set serverUser")
    }

    private var setprivPath: String {
        POSIX.isExecutable("/usr/bin/setpriv")
            ? "/usr/bin/setpriv" : POSIX.findInPath("setpriv", path: ProcessInfo.processInfo.environment["PATH"]) ?? "setpriv"
    }

    private func commandPrefix(for serverUser: POSIX.User?) -> [String] {
        guard let serverUser else { return [] }
        return [self.setprivPath, "--reuid=\(serverUser.uid)", "--regid=\(serverUser.gid)", "--clear-groups", "--"]
    }

    private func prepareDirectories(for serverUser: POSIX.User?) throws {
        let fileManager = FileManager.default
        do {
            if let temporaryDirectory = self.temporaryDirectory, !fileManager.fileExists(atPath: temporaryDirectory) {
                try fileManager.createDirectory(
                    atPath: temporaryDirectory,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o755]
                )
                if self.configuration.stopsWithProcess {
                    ServerExitGuard.registerTemporaryDirectory(temporaryDirectory)
                }
            }
            let parent = (self.dataDirectory as NSString).deletingLastPathComponent
            if !fileManager.fileExists(atPath: parent) {
                try fileManager.createDirectory(atPath: parent, withIntermediateDirectories: true)
            }
            if !fileManager.fileExists(atPath: self.dataDirectory) {
                try fileManager.createDirectory(atPath: self.dataDirectory, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
            }
        } catch {
            throw EmbeddedPostgresError.failed(
                "cannot create the data folder \(self.dataDirectory): \(error)", underlying: error)
        }
        guard let serverUser else { return }

        // The server account must be able to walk down to the data folder.
        var ancestor = (self.dataDirectory as NSString).deletingLastPathComponent
        while true {
            if let attributes = try? fileManager.attributesOfItem(atPath: ancestor),
                let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value,
                let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value,
                let group = (attributes[.groupOwnerAccountID] as? NSNumber)?.uint32Value
            {
                let traversable = mode & 0o001 != 0 || (owner == serverUser.uid && mode & 0o100 != 0)
                    || (group == serverUser.gid && mode & 0o010 != 0)
                guard traversable else {
                    throw EmbeddedPostgresError.failed(
                        "running as root, PostgreSQL runs as '\(serverUser.name)', which cannot enter \(ancestor) "
                            + "(mode \(String(mode & 0o7777, radix: 8))); put the data folder under a folder it can "
                            + "traverse, or run as an ordinary user")
                }
            }
            if ancestor == "/" || ancestor.isEmpty { break }
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        if !fileManager.fileExists(atPath: self.dataDirectory + "/PG_VERSION") {
            do {
                try POSIX.changeOwner(of: self.dataDirectory, to: serverUser)
            } catch {
                throw EmbeddedPostgresError.failed(
                    "cannot hand \(self.dataDirectory) to '\(serverUser.name)': \(error)", underlying: error)
            }
        }
    }

    /// Runs `initdb` into a staging folder next to the data folder and moves it into place only once it is
    /// complete (with the stored password), so an interrupted first start never leaves a half-made cluster behind.
    private func initializeCluster(_ installation: PostgresInstallation, serverUser: POSIX.User?) async throws {
        let fileManager = FileManager.default
        let contents = (try? fileManager.contentsOfDirectory(atPath: self.dataDirectory)) ?? []
        guard contents.isEmpty else {
            throw EmbeddedPostgresError.failed(
                "\(self.dataDirectory) is neither empty nor a PostgreSQL data folder (no PG_VERSION); refusing to use it")
        }
        let staging = self.dataDirectory + ".initdb"
        // Scratch files live in the temporary folder when there is one, so a crash leaves at most that folder.
        let scratch = self.temporaryDirectory ?? fileManager.temporaryDirectory.path
        let passwordFile = "\(scratch)/redress-initdb-\(randomHex(byteCount: 6)).pw"
        let logFile = "\(scratch)/redress-initdb-\(randomHex(byteCount: 6)).log"
        defer {
            try? fileManager.removeItem(atPath: passwordFile)
            try? fileManager.removeItem(atPath: logFile)
        }
        do {
            if fileManager.fileExists(atPath: staging) {
                try fileManager.removeItem(atPath: staging)  // left by an interrupted earlier attempt
            }
            try fileManager.createDirectory(atPath: staging, withIntermediateDirectories: false,
                                            attributes: [.posixPermissions: 0o700])
            if let serverUser {
                try POSIX.changeOwner(of: staging, to: serverUser)
            }
        } catch {
            throw EmbeddedPostgresError.failed("cannot prepare \(staging): \(error)", underlying: error)
        }

        let password = randomHex(byteCount: 24)
        guard fileManager.createFile(atPath: passwordFile, contents: Data(password.utf8),
                                     attributes: [.posixPermissions: 0o600])
        else {
            throw EmbeddedPostgresError.failed("cannot write the temporary password file \(passwordFile)")
        }
        if let serverUser {
            try? POSIX.changeOwner(of: passwordFile, to: serverUser)
        }

        var arguments = [
            "-D", staging, "-U", self.configuration.username,
            "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=\(passwordFile)",
            "--encoding=UTF8", "--locale=C.UTF-8",
        ]
        if !self.configuration.durable {
            arguments.append("--no-sync")
        }
        let prefix = self.commandPrefix(for: serverUser)
        var (exit, output) = try await self.runInitdb(prefix + [installation.initdb] + arguments, logFile: logFile)
        if exit != .init(status: 0, signalled: false) && output.contains("locale") {
            // A system without the C.UTF-8 locale: fall back to the plain C locale (initdb cleans up after failing).
            let fallback = arguments.map { $0 == "--locale=C.UTF-8" ? "--no-locale" : $0 }
            (exit, output) = try await self.runInitdb(prefix + [installation.initdb] + fallback, logFile: logFile)
        }
        guard exit == .init(status: 0, signalled: false) else {
            try? fileManager.removeItem(atPath: staging)
            throw EmbeddedPostgresError.failed(
                "initdb failed for \(self.dataDirectory) (\(exit)):\n" + tail(of: output, lines: 25))
        }

        let storedPassword = staging + "/" + Self.passwordFileName
        guard fileManager.createFile(atPath: storedPassword, contents: Data(password.utf8),
                                     attributes: [.posixPermissions: 0o600])
        else {
            throw EmbeddedPostgresError.failed("cannot store the superuser password in \(storedPassword)")
        }
        if let serverUser {
            try? POSIX.changeOwner(of: storedPassword, to: serverUser)
        }
        // Move the finished cluster into place (the empty data folder goes first).
        if fileManager.fileExists(atPath: self.dataDirectory) && rmdir(self.dataDirectory) != 0 {
            throw EmbeddedPostgresError.failed(
                "cannot replace the empty folder \(self.dataDirectory): \(POSIXCallError(call: "rmdir", errno: errno))")
        }
        guard rename(staging, self.dataDirectory) == 0 else {
            throw EmbeddedPostgresError.failed(
                "cannot move \(staging) to \(self.dataDirectory): \(POSIXCallError(call: "rename", errno: errno))")
        }
        self.password = password
        self.logger.info(
            "Initialised embedded PostgreSQL data folder",
            metadata: ["data": "\(self.dataDirectory)", "version": "\(installation.majorVersion)"]
        )
    }

    /// Runs `initdb` under the watchdog (so that a crash of this process stops it and removes the temporary folder)
    /// and returns its exit and output.
    private func runInitdb(
        _ command: [String],
        logFile: String
    ) async throws -> (LaunchedProgram.Exit, String) {
        try? FileManager.default.removeItem(atPath: logFile)
        let process: GuardedProcess
        do {
            process = try await GuardedProcess.launch(
                command: command,
                processName: "initdb",
                watchdog: self.watchdog,
                logPath: logFile,
                environment: serverEnvironment()
            )
        } catch {
            throw EmbeddedPostgresError.failed("cannot launch \(command.joined(separator: " ")): \(error)",
                                                             underlying: error)
        }
        guard let exit = await process.program.waitForExit(timeout: .seconds(600)) else {
            process.signal(SIGKILL)
            _ = await process.program.waitForExit(timeout: .seconds(10))
            self.watchdog?.release()
            throw EmbeddedPostgresError.failed("initdb did not finish within 10 minutes")
        }
        self.watchdog?.release()
        return (exit, POSIX.readSmallFile(logFile) ?? "")
    }

    private func adoptExistingCluster(_ installation: PostgresInstallation) throws {
        let versionText = POSIX.readSmallFile(self.dataDirectory + "/PG_VERSION")?.trimmingTrailingNewlines() ?? ""
        guard let version = Int(versionText) else {
            throw EmbeddedPostgresError.failed("cannot read \(self.dataDirectory)/PG_VERSION")
        }
        guard version == installation.majorVersion else {
            throw EmbeddedPostgresError.failed(
                "\(self.dataDirectory) holds a PostgreSQL \(version) cluster, but the installed server "
                    + "(\(installation.binDirectory)) is version \(installation.majorVersion); upgrade the folder "
                    + "with pg_upgrade or remove it")
        }
        let passwordPath = self.dataDirectory + "/" + Self.passwordFileName
        guard let password = POSIX.readSmallFile(passwordPath)?.trimmingTrailingNewlines(), !password.isEmpty else {
            throw EmbeddedPostgresError.failed(
                "\(self.dataDirectory) holds a cluster not created by EmbeddedPostgres (no readable "
                    + "\(Self.passwordFileName)); use another folder")
        }
        self.password = password
    }

    /// Refuses a folder a live server uses; removes a lock file a dead one left. After a reboot or a
    /// container restart its PID may belong to another process, even another PostgreSQL: the server
    /// itself would then refuse to start for good. A postmaster runs in its data folder, so one whose
    /// working folder is elsewhere is not this folder's.
    private func refuseIfAnotherServerRuns() throws {
        let lockFile = self.dataDirectory + "/postmaster.pid"
        guard let pidFile = POSIX.readSmallFile(lockFile),
            let firstLine = pidFile.split(separator: "\n").first, let pid = Int32(firstLine.trimmingCharacters(in: .whitespaces))
        else { return }
        if GuardedProcess.isAlive(pid), POSIX.commandName(of: pid) == "postgres" {
            let folder = URL(fileURLWithPath: self.dataDirectory).resolvingSymlinksInPath().path
            // Its working folder; for another user's process (unreadable), the `-D` of its command line,
            // which anyone may read. Neither known: assume the worst.
            let workingFolder = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"))
                ?? Self.dataFolderArgument(ofProcess: pid).map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
            if workingFolder == nil || workingFolder == folder {
                throw EmbeddedPostgresError.failed(
                    "another PostgreSQL server (pid \(pid)) is already running on \(self.dataDirectory)")
            }
        }
        logger.notice("removing a stale postmaster.pid", metadata: ["pid": "\(pid)", "folder": "\(self.dataDirectory)"])
        try? FileManager.default.removeItem(atPath: lockFile)
    }

    /// The argument after `-D` in the command line of process `pid`, if it has one.
    package static func dataFolderArgument(ofProcess pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let flag = arguments.firstIndex(of: "-D"), flag + 1 < arguments.count else { return nil }
        return arguments[flag + 1]
    }

    private func launch(_ installation: PostgresInstallation, port: Int, serverUser: POSIX.User?) async throws
        -> GuardedProcess
    {
        var settings: [(String, String)] = [
            ("listen_addresses", self.configuration.listensOnTCP ? "127.0.0.1" : ""),
            ("unix_socket_directories", self.socketEnabled ? self.dataDirectory : ""),
            ("unix_socket_permissions", "0700"),
            ("max_connections", String(self.configuration.maxConnections)),
            ("logging_collector", "off"),
            ("log_destination", "stderr"),
            ("log_error_verbosity", "terse"),
            ("log_min_error_statement", "panic"),
        ]
        if !self.configuration.durable {
            settings += [("fsync", "off"), ("synchronous_commit", "off"), ("full_page_writes", "off")]
        }
        settings += self.configuration.serverSettings.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }

        var command = self.commandPrefix(for: serverUser)
        command += [installation.postgres, "-D", self.dataDirectory, "-p", String(port)]
        for (name, value) in settings {
            command += ["-c", "\(name)=\(value)"]
        }
        do {
            return try await GuardedProcess.launch(
                command: command,
                processName: "postgres",
                watchdog: self.watchdog,
                logPath: self.serverLogPath,
                environment: serverEnvironment()
            )
        } catch {
            throw EmbeddedPostgresError.failed("cannot launch \(installation.postgres): \(error)", underlying: error)
        }
    }

    /// A startup that failed in a way `start()` may retry (port taken) or report.
    private struct StartupFailure: Error {
        var message: String
        var portInUse: Bool
    }

    private func waitUntilReady(_ server: GuardedProcess, port: Int) async throws {
        let quiet = Logger(label: "redress.embedded-postgres.probe", factory: { _ in SwiftLogNoOpLogHandler() })
        guard let password = self.password else {
            throw EmbeddedPostgresError.failed("no superuser password known for \(self.dataDirectory)")
        }
        // The socket uses trust authentication: cheaper per attempt than SCRAM over TCP.
        var probe = self.socketEnabled
            ? self.socketConfiguration(port: port, password: password)
            : self.tcpConfiguration(port: port, password: password)
        probe.database = "postgres"
        probe.connectTimeout = .seconds(2)
        let connectionConfiguration = try probe.makeConnectionConfiguration()

        let deadline = ContinuousClock.now + self.configuration.startupTimeout
        var lastError: (any Error)?
        var connection: PostgresConnection?
        while connection == nil {
            if let exit = server.program.exit {
                let log = self.serverLogTail()
                throw StartupFailure(
                    message: "PostgreSQL \(exit) during startup on port \(port); log tail:\n\(log)",
                    portInUse: log.contains("could not bind") || log.contains("Address already in use")
                        || log.contains("could not create any TCP/IP sockets"))
            }
            guard ContinuousClock.now < deadline else {
                await self.stopServer(server)
                throw StartupFailure(
                    message: "PostgreSQL did not accept connections within \(self.configuration.startupTimeout) "
                        + "(last error: \(lastError.map { String(reflecting: $0) } ?? "none")); log tail:\n"
                        + self.serverLogTail(),
                    portInUse: false)
            }
            do {
                connection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 0, logger: quiet)
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        guard let connection else { return }
        do {
            let database = self.configuration.database
            let exists = try await connection.query(
                "SELECT 1 FROM pg_database WHERE datname = \(database)", logger: self.logger
            ).collect()
            if exists.isEmpty {
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(database))"), logger: self.logger)
            }
        } catch {
            try? await connection.close()
            throw EmbeddedPostgresError.failed(
                "cannot create database '\(self.configuration.database)': \(String(reflecting: error))", underlying: error)
        }
        try? await connection.close()
    }

    private func serverLogTail() -> String {
        tail(of: POSIX.readSmallFile(self.serverLogPath) ?? "", lines: 25)
    }
}

/// Runs `body` with a started ``EmbeddedPostgres``, then stops it and removes its temporary folder, also when
/// `body` throws.
///
/// - Parameters:
///   - configuration: The server settings; ``EmbeddedPostgres/Configuration/forTesting`` for tests.
///   - logger: Receives the server's lifecycle messages.
///   - body: The work to do with the running server.
public func withEmbeddedPostgres<Result>(
    configuration: EmbeddedPostgres.Configuration = .init(),
    logger: Logger,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (EmbeddedPostgres) async throws -> sending Result
) async throws -> sending Result {
    let server = EmbeddedPostgres(configuration: configuration, logger: logger)
    let result: Result
    do {
        try await server.start()
        result = try await body(server)
    } catch {
        do {
            try await server.tearDown()
        } catch let tearDownError {
            logger.debug("Tearing down the embedded server failed", metadata: ["error": "\(tearDownError)"])
        }
        throw error
    }
    try await server.tearDown()
    return result
}

/// The environment for `initdb` and the server: ours without `PG…` variables, which would override the command
/// line's choices (data folder, port, user).
private func serverEnvironment() -> [String: String] {
    ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
}

private func randomHex(byteCount: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<byteCount).map { _ in
        let byte = UInt8.random(in: .min ... .max, using: &generator)
        return String(byte, radix: 16).count == 1 ? "0" + String(byte, radix: 16) : String(byte, radix: 16)
    }.joined()
}

private func tail(of text: String, lines count: Int) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).suffix(count).joined(separator: "\n")
}

private func quoteIdentifier(_ identifier: String) -> String {
    "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
