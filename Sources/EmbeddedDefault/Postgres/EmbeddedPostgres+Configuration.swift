extension EmbeddedPostgres {
    /// Settings of an ``EmbeddedPostgres``.
    ///
    /// | key | default | meaning |
    /// | --- | --- | --- |
    /// | `dataDirectory` | `nil` | the cluster folder; `nil` makes a temporary one that ``EmbeddedPostgres/tearDown()`` (and the watchdog) remove |
    /// | `database` | `redress` | created on first start if missing |
    /// | `username` | `redress` | the cluster's superuser; its password is generated at `initdb` and kept in the data folder |
    /// | `port` | `nil` | `nil` picks a free loopback port at the first start and keeps it across restarts |
    /// | `listensOnTCP` | `true` | listen on 127.0.0.1 (never on other interfaces) |
    /// | `listensOnUnixSocket` | `true` | also listen on `<dataDirectory>/.s.PGSQL.<port>` (skipped if that path is too long for a socket) |
    /// | `durable` | `true` | `false` turns off `fsync`, `synchronous_commit` and `full_page_writes`: fast, and a machine crash may corrupt the cluster (tests only) |
    /// | `binDirectory` | `nil` | where `initdb` and `postgres` are; `nil` searches (see ``PostgresInstallation``) |
    /// | `serverUser` | `nil` | when running as root, the OS account to run the server as; `nil` uses `postgres`, else `nobody` |
    /// | `stopsWithProcess` | `true` | stop the server when this process exits, even by a crash (watchdog + `atexit`) |
    /// | `maxConnections` | `100` | the server's `max_connections` |
    /// | `startupTimeout` | 60 s | how long `start()` waits for the server to accept connections |
    /// | `shutdownTimeout` | 15 s | how long `stop()` waits after `SIGINT` before `SIGKILL` |
    /// | `serverSettings` | `[:]` | extra `-c name=value` server settings |
    public struct Configuration: Sendable {
        /// The cluster folder; `nil` for a temporary folder owned by the instance.
        public var dataDirectory: String?
        /// The database to create and connect to.
        public var database: String = "redress"
        /// The superuser role created by `initdb`.
        public var username: String = "redress"
        /// A fixed TCP port; `nil` picks a free one at first start.
        public var port: Int?
        /// Listen on 127.0.0.1.
        public var listensOnTCP: Bool = true
        /// Listen on a Unix socket in the data folder.
        public var listensOnUnixSocket: Bool = true
        /// Keep PostgreSQL's crash-safety settings (`fsync` and friends).
        public var durable: Bool = true
        /// The folder with `initdb` and `postgres`.
        public var binDirectory: String?
        /// The OS account that runs the server when this process is root.
        public var serverUser: String?
        /// Stop the server when this process exits, however it exits.
        public var stopsWithProcess: Bool = true
        /// The server's `max_connections`.
        public var maxConnections: Int = 100
        /// How long to wait for the server to accept connections.
        public var startupTimeout: Duration = .seconds(60)
        /// How long to wait for a fast shutdown before killing the server.
        public var shutdownTimeout: Duration = .seconds(15)
        /// Extra server settings, passed as `-c name=value`.
        public var serverSettings: [String: String] = [:]

        /// The product defaults: durable, temporary folder, free port.
        public init() {}

        /// A configuration using `dataDirectory`, which is reused if it already holds a cluster (the
        /// `redress up` persistence case).
        public init(dataDirectory: String) {
            self.dataDirectory = dataDirectory
        }

        /// Settings for test suites: a temporary folder, no `fsync`, room for many parallel clients.
        public static var forTesting: Configuration {
            var configuration = Configuration()
            configuration.durable = false
            configuration.maxConnections = 300
            return configuration
        }
    }
}
