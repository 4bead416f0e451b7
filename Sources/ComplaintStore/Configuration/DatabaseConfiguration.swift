import Foundation
import PostgresNIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where and how to reach PostgreSQL, parsed from `DATABASE_URL` (or postgres-nio's `POSTGRES_*` variables) and
/// turned into a `PostgresClient.Configuration`.
///
/// Accepted URL forms follow libpq:
/// - TCP: `postgres://user:pass@host:5432/db?sslmode=disable` (`postgresql://` works too; `[::1]` for IPv6).
/// - Unix socket: `postgres://user@/db?host=/path/to/socketdir` (also `postgres://user@%2Fpath%2Fdir/db`); the
///   socket file is `<dir>/.s.PGSQL.<port>`.
///
/// Query parameters: `host`, `port`, `user`, `password`, `dbname`, `sslmode` (`disable`, `allow`, `prefer`,
/// `require`, `verify-ca`, `verify-full`; default `prefer` over TCP), `sslrootcert`, `application_name`,
/// `connect_timeout` (seconds). Anything else is refused, as libpq does, so that typos surface.
///
/// The password never appears in ``description`` or ``redactedDescription``; only ``url`` carries it, for
/// handing to a child process.
public struct DatabaseConfiguration: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The network endpoint of the server.
    public enum Endpoint: Sendable, Hashable {
        /// A TCP host name or address and port.
        case tcp(host: String, port: Int)
        /// A Unix-domain socket in `directory`, named after `port` (`<directory>/.s.PGSQL.<port>`).
        case unixSocket(directory: String, port: Int)
    }

    /// Whether and how to use TLS, with libpq's `sslmode` names.
    public struct TLSMode: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case disable, allow, prefer, require
            case verifyCA = "verify-ca"
            case verifyFull = "verify-full"
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// Never use TLS.
        public static let disable = Self(.disable)
        /// Use TLS if the server offers it (libpq tries plain first; PostgresNIO cannot, so this equals `prefer`).
        public static let allow = Self(.allow)
        /// Use TLS if the server offers it, without verifying the certificate.
        public static let prefer = Self(.prefer)
        /// Require TLS, without verifying the certificate.
        public static let require = Self(.require)
        /// Require TLS and a certificate signed by a trusted authority.
        public static let verifyCA = Self(.verifyCA)
        /// Require TLS, a trusted certificate, and a matching host name.
        public static let verifyFull = Self(.verifyFull)

        /// Parses an `sslmode` value.
        public init?(sslmode: String) {
            guard let base = Base(rawValue: sslmode) else { return nil }
            self.init(base)
        }

        /// The `sslmode` spelling.
        public var description: String { self.base.rawValue }
    }

    /// The default PostgreSQL port.
    public static let defaultPort = 5432

    /// Where the server listens.
    public var endpoint: Endpoint
    /// The role to log in as.
    public var username: String
    /// The role's password, if the server asks for one.
    public var password: String?
    /// The database; `nil` lets the server pick the one named like the role.
    public var database: String?
    /// TLS policy for TCP endpoints (ignored for Unix sockets).
    public var tlsMode: TLSMode
    /// A PEM file of trusted root certificates for `verify-ca`/`verify-full`; `nil` uses the system store.
    public var tlsRootCertificatePath: String?
    /// Reported to the server as `application_name` (visible in `pg_stat_activity`).
    public var applicationName: String?
    /// How long to wait for a connection to be established; `nil` keeps PostgresNIO's default (10 s).
    public var connectTimeout: Duration?

    /// Creates a configuration from its parts.
    public init(
        endpoint: Endpoint,
        username: String,
        password: String? = nil,
        database: String? = nil,
        tlsMode: TLSMode = .prefer,
        applicationName: String? = nil,
        connectTimeout: Duration? = nil
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
    }

    /// The Unix-domain socket file, for socket endpoints.
    public var unixSocketPath: String? {
        guard case .unixSocket(let directory, let port) = self.endpoint else { return nil }
        let trimmed = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        return "\(trimmed)/.s.PGSQL.\(port)"
    }

    /// The configuration as a URL, *including the password*: pass it to child processes, never log it.
    public var url: String {
        self.render(redactingPassword: false)
    }

    /// The configuration as a URL with the password replaced by `***`, safe to log.
    public var redactedDescription: String {
        self.render(redactingPassword: true)
    }

    public var description: String { self.redactedDescription }

    public var debugDescription: String { "DatabaseConfiguration(\(self.redactedDescription))" }

    /// Keeps `dump()` and debuggers from showing the password.
    public var customMirror: Mirror {
        Mirror(self, children: [
            "endpoint": self.endpoint, "username": self.username, "password": self.password.map { _ in "***" } as Any,
            "database": self.database as Any, "tlsMode": self.tlsMode,
        ])
    }

    /// The PostgresNIO client configuration for this endpoint and login.
    /// - Parameter searchPath: A schema every connection of the pool starts with alone on its
    ///   `search_path` (a service's own pool), so its statements name their tables plainly without a
    ///   `SET` per transaction.
    public func makeClientConfiguration(searchPath: SchemaName? = nil) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch self.endpoint {
        case .tcp(let host, let port):
            configuration = PostgresClient.Configuration(
                host: host,
                port: port,
                username: self.username,
                password: self.password,
                database: self.database,
                tls: self.makeTLS()
            )
        case .unixSocket:
            configuration = PostgresClient.Configuration(
                unixSocketPath: self.unixSocketPath!,
                username: self.username,
                password: self.password,
                database: self.database
            )
        }
        if let applicationName = self.applicationName {
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
        }
        if let searchPath {
            configuration.options.additionalStartupParameters.append(("search_path", searchPath.rawValue))
        }
        if let connectTimeout = self.connectTimeout {
            configuration.options.connectTimeout = connectTimeout
        }
        return configuration
    }

    /// The PostgresNIO configuration for a single connection (`PostgresConnection.connect`), for tools and checks
    /// that need one connection rather than a pool.
    ///
    /// - Throws: An `NIOSSLError` if the TLS settings cannot be turned into a context (an unreadable
    ///   `sslrootcert`, say).
    public func makeConnectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch self.endpoint {
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS
            if self.tlsMode == .disable {
                tls = .disable
            } else if self.tlsMode == .allow || self.tlsMode == .prefer {
                tls = .prefer(try NIOSSLContext(configuration: self.makeTLSConfiguration()))
            } else {
                tls = .require(try NIOSSLContext(configuration: self.makeTLSConfiguration()))
            }
            configuration = PostgresConnection.Configuration(
                host: host,
                port: port,
                username: self.username,
                password: self.password,
                database: self.database,
                tls: tls
            )
        case .unixSocket:
            configuration = PostgresConnection.Configuration(
                unixSocketPath: self.unixSocketPath!,
                username: self.username,
                password: self.password,
                database: self.database
            )
        }
        if let applicationName = self.applicationName {
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
        }
        if let connectTimeout = self.connectTimeout {
            configuration.options.connectTimeout = .seconds(connectTimeout.components.seconds)
        }
        return configuration
    }

    private func makeTLS() -> PostgresClient.Configuration.TLS {
        switch self.tlsMode {
        case .disable:
            return .disable
        case .allow, .prefer:
            return .prefer(self.makeTLSConfiguration())
        default:
            return .require(self.makeTLSConfiguration())
        }
    }

    /// libpq semantics: `prefer`/`require` encrypt without verifying, `verify-ca` checks the chain, `verify-full`
    /// also the host name.
    private func makeTLSConfiguration() -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let rootCertificates = self.tlsRootCertificatePath {
            tls.trustRoots = .file(rootCertificates)
        }
        switch self.tlsMode {
        case .verifyFull:
            tls.certificateVerification = .fullVerification
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
        default:
            tls.certificateVerification = .none
        }
        return tls
    }

    private func render(redactingPassword: Bool) -> String {
        var result = "postgres://"
        result += URLText.encode(self.username, allowing: URLText.unreserved)
        if let password = self.password {
            result += ":" + (redactingPassword ? "***" : URLText.encode(password, allowing: URLText.unreserved))
        }
        var query: [(String, String)] = []
        switch self.endpoint {
        case .tcp(let host, let port):
            let hostText = host.contains(":") ? "[\(host)]" : URLText.encode(host, allowing: URLText.hostCharacters)
            result += "@\(hostText):\(port)"
        case .unixSocket(let directory, let port):
            result += "@"
            query.append(("host", directory))
            query.append(("port", String(port)))
        }
        result += "/"
        if let database = self.database {
            result += URLText.encode(database, allowing: URLText.unreserved)
        }
        if case .tcp = self.endpoint {
            query.append(("sslmode", self.tlsMode.description))
        }
        if let root = self.tlsRootCertificatePath {
            query.append(("sslrootcert", root))
        }
        if let applicationName = self.applicationName {
            query.append(("application_name", applicationName))
        }
        if let connectTimeout = self.connectTimeout {
            query.append(("connect_timeout", String(max(1, connectTimeout.components.seconds))))
        }
        if !query.isEmpty {
            result += "?" + query.map { "\($0.0)=\(URLText.encode($0.1, allowing: URLText.queryValue))" }
                .joined(separator: "&")
        }
        return result
    }
}

extension DatabaseConfiguration {
    /// Parses a libpq-style connection URL.
    ///
    /// - Throws: A ``ComplaintStoreError`` with code ``ComplaintStoreError/Code/invalidDatabaseURL`` naming the
    ///   problem (never the password).
    public init(url: String) throws {
        // An `@` in the database name is a password's unencoded `/` or `@` that moved the split: it parses,
        // and pieces of the password would then be shown as the host or the database.
        if let scheme = url.range(of: "://") {
            let rest = url[scheme.upperBound...]
            if let slash = rest.firstIndex(of: "/") {
                let path = rest[slash...].prefix { $0 != "?" }
                if path.contains("@") {
                    throw ComplaintStoreError.invalidDatabaseURL(
                        "the URL has an '@' after its first '/', where no part of it may hold one (not shown: it may be part of the password); "
                            + "in a password, / ? # @ : and % must be percent-encoded (%2F %3F %23 %40 %3A %25)")
                }
            }
        }
        do {
            try self.init(parsing: url)
        } catch let error as ComplaintStoreError where error.code == .invalidDatabaseURL {
            // A password with an unencoded `/`, `?`, `#` or `@` splits the URL in the wrong places, and
            // the part quoted as the bad port, host or parameter is then a piece of it.
            guard Self.quotesPassword(error.reason, of: url) else { throw error }
            throw ComplaintStoreError.invalidDatabaseURL(
                "the URL does not parse, and the part at fault is not shown because it may be part of the password; "
                    + "in a password, / ? # @ : and % must be percent-encoded (%2F %3F %23 %40 %3A %25)")
        }
    }

    /// Whether `reason` repeats any piece (two characters or more) of what may be the password in `url`:
    /// everything between the first `:` after the scheme and the last `@`.
    static func quotesPassword(_ reason: String, of url: String) -> Bool {
        let secret: Substring
        if let scheme = url.range(of: "://") {
            let afterScheme = url[scheme.upperBound...]
            guard let at = afterScheme.lastIndex(of: "@"), let colon = afterScheme[..<at].firstIndex(of: ":") else { return false }
            secret = afterScheme[afterScheme.index(after: colon)..<at]
        } else {
            // No scheme: the whole text may be a password-bearing URL without it.
            secret = Substring(url)
        }
        return secret.split(whereSeparator: { "/?#@:".contains($0) }).contains { $0.count >= 2 && reason.contains($0) }
    }

    private init(parsing url: String) throws {
        let schemes = ["postgres://", "postgresql://"]
        guard let scheme = schemes.first(where: { url.hasPrefix($0) }) else {
            throw ComplaintStoreError.invalidDatabaseURL(
                "the URL must start with postgres:// or postgresql:// (got '\(Self.schemePrefix(of: url))')")
        }
        var rest = Substring(url.dropFirst(scheme.count))

        var queryText: Substring = ""
        if let questionMark = rest.firstIndex(of: "?") {
            queryText = rest[rest.index(after: questionMark)...]
            rest = rest[..<questionMark]
        }
        if let hash = queryText.firstIndex(of: "#") {
            queryText = queryText[..<hash]
        }

        var authority = rest
        var pathText: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            pathText = rest[rest.index(after: slash)...]
        }

        var username: String?
        var password: String?
        var hostText = authority
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostText = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                username = try URLText.decode(userInfo[..<colon], what: "user name")
                password = try URLText.decode(userInfo[userInfo.index(after: colon)...], what: "password")
            } else {
                username = try URLText.decode(userInfo, what: "user name")
            }
        }
        guard !hostText.contains(",") else {
            throw ComplaintStoreError.invalidDatabaseURL("several hosts are not supported (\(hostText))")
        }

        var host: String?
        var port: Int?
        if hostText.hasPrefix("[") {
            guard let closing = hostText.firstIndex(of: "]") else {
                throw ComplaintStoreError.invalidDatabaseURL("unterminated IPv6 address in '\(hostText)'")
            }
            host = String(hostText[hostText.index(after: hostText.startIndex)..<closing])
            let afterHost = hostText[hostText.index(after: closing)...]
            if !afterHost.isEmpty {
                guard afterHost.hasPrefix(":") else {
                    throw ComplaintStoreError.invalidDatabaseURL("unexpected '\(afterHost)' after IPv6 address")
                }
                port = try Self.parsePort(afterHost.dropFirst())
            }
        } else if let colon = hostText.lastIndex(of: ":") {
            host = try URLText.decode(hostText[..<colon], what: "host")
            port = try Self.parsePort(hostText[hostText.index(after: colon)...])
        } else if !hostText.isEmpty {
            host = try URLText.decode(hostText, what: "host")
        }
        if host?.isEmpty == true {
            host = nil
        }

        var database: String? = pathText.isEmpty ? nil : try URLText.decode(pathText, what: "database name")
        var tlsMode: TLSMode?
        var rootCertificate: String?
        var applicationName: String?
        var connectTimeout: Duration?

        for pair in queryText.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try URLText.decode(parts[0], what: "query parameter name")
            let value = parts.count > 1 ? try URLText.decode(parts[1], what: "value of '\(key)'") : ""
            switch key {
            case "host":
                guard !value.contains(",") else {
                    throw ComplaintStoreError.invalidDatabaseURL("several hosts are not supported (\(value))")
                }
                host = value.isEmpty ? nil : value
            case "port":
                port = try Self.parsePort(Substring(value))
            case "user":
                username = value
            case "password":
                password = value
            case "dbname":
                database = value
            case "sslmode":
                guard let mode = TLSMode(sslmode: value) else {
                    throw ComplaintStoreError.invalidDatabaseURL(
                        "sslmode '\(value)' is not one of disable, allow, prefer, require, verify-ca, verify-full")
                }
                tlsMode = mode
            case "sslrootcert":
                rootCertificate = value
            case "application_name":
                applicationName = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds >= 0 else {
                    throw ComplaintStoreError.invalidDatabaseURL("connect_timeout '\(value)' is not a number of seconds")
                }
                // libpq treats 0 as "wait forever"; the closest we can do is PostgresNIO's default.
                connectTimeout = seconds == 0 ? nil : .seconds(max(2, seconds))
            default:
                throw ComplaintStoreError.invalidDatabaseURL(
                    "unsupported query parameter '\(key)'; supported: host, port, user, password, dbname, sslmode, "
                        + "sslrootcert, application_name, connect_timeout")
            }
        }

        let resolvedPort = port ?? Self.defaultPort
        let endpoint: Endpoint
        switch host {
        case .some(let host) where host.hasPrefix("/"):
            endpoint = .unixSocket(directory: host, port: resolvedPort)
        case .some(let host):
            endpoint = .tcp(host: host, port: resolvedPort)
        case .none:
            endpoint = .unixSocket(directory: Self.defaultSocketDirectory, port: resolvedPort)
        }
        if let database, database.isEmpty {
            throw ComplaintStoreError.invalidDatabaseURL("the database name is empty")
        }

        guard let resolvedUser = username.flatMap({ $0.isEmpty ? nil : $0 }) ?? Self.currentOSUser() else {
            throw ComplaintStoreError.invalidDatabaseURL("no user name in the URL and none for the current OS user")
        }

        self.init(
            endpoint: endpoint,
            username: resolvedUser,
            password: password,
            database: database,
            tlsMode: tlsMode ?? .prefer,
            applicationName: applicationName,
            connectTimeout: connectTimeout
        )
        self.tlsRootCertificatePath = rootCertificate
    }

    /// Reads the configuration from the environment.
    ///
    /// `DATABASE_URL` wins. Otherwise postgres-nio's test convention is honoured: `POSTGRES_HOSTNAME` (a host name,
    /// or a socket directory if it starts with `/`), `POSTGRES_PORT`, `POSTGRES_USER` (alias `POSTGRES_USERNAME`),
    /// `POSTGRES_PASSWORD`, `POSTGRES_DB` (alias `POSTGRES_DATABASE`) and `POSTGRES_SSLMODE`.
    ///
    /// - Returns: `nil` when neither `DATABASE_URL` nor `POSTGRES_HOSTNAME` is set (or both are empty).
    /// - Throws: A ``ComplaintStoreError`` if a variable is set but malformed.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> DatabaseConfiguration? {
        if let url = environment["DATABASE_URL"], !url.isEmpty {
            return try DatabaseConfiguration(url: url)
        }
        guard let host = environment["POSTGRES_HOSTNAME"], !host.isEmpty else {
            return nil
        }
        let port = try environment["POSTGRES_PORT"].map { try Self.parsePort(Substring($0)) } ?? Self.defaultPort
        let username = environment["POSTGRES_USER"] ?? environment["POSTGRES_USERNAME"] ?? "postgres"
        let database = environment["POSTGRES_DB"] ?? environment["POSTGRES_DATABASE"]
        var tlsMode = TLSMode.prefer
        if let sslmode = environment["POSTGRES_SSLMODE"] {
            guard let mode = TLSMode(sslmode: sslmode) else {
                throw ComplaintStoreError.invalidDatabaseURL("POSTGRES_SSLMODE '\(sslmode)' is not a valid sslmode")
            }
            tlsMode = mode
        }
        return DatabaseConfiguration(
            endpoint: host.hasPrefix("/") ? .unixSocket(directory: host, port: port) : .tcp(host: host, port: port),
            username: username,
            password: environment["POSTGRES_PASSWORD"],
            database: database.flatMap { $0.isEmpty ? nil : $0 },
            tlsMode: tlsMode
        )
    }

    /// The socket directory libpq would use without a host: Debian's, else the upstream default.
    static var defaultSocketDirectory: String {
        FileManager.default.fileExists(atPath: "/var/run/postgresql") ? "/var/run/postgresql" : "/tmp"
    }

    private static func parsePort(_ text: Substring) throws -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw ComplaintStoreError.invalidDatabaseURL("port '\(text)' is not a number between 1 and 65535")
        }
        return port
    }

    private static func schemePrefix(of url: String) -> String {
        guard let range = url.range(of: "://") else { return String(url.prefix(12)) + "…" }
        return String(url[..<range.upperBound])
    }
}

/// Percent-encoding for the parts of a connection URL.
private enum URLText {
    static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
    static let hostCharacters = unreserved
    static let queryValue = unreserved.union("/:".utf8)

    static func encode(_ text: String, allowing allowed: Set<UInt8>) -> String {
        var result = ""
        for byte in text.utf8 {
            if allowed.contains(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }

    static func decode(_ text: Substring, what: String) throws -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw ComplaintStoreError.invalidDatabaseURL("invalid percent-encoding in the \(what)")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw ComplaintStoreError.invalidDatabaseURL("the \(what) is not valid UTF-8")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension DatabaseConfiguration {
    /// The login name of the account this process runs as (libpq's default user), if it has one.
    static func currentOSUser() -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(geteuid(), &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else {
            return nil
        }
        return String(cString: name)
    }
}
