import NIOCore
import NIOPosix
import PostgresNIO
import _ConnectionPoolModule

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells transient database faults (retry with backoff: the server restarts, a connection drops, a serialisation
/// conflict) from permanent ones (bad data, a bug, a constraint that will fail again).
///
/// Transient:
/// - connection-level failures: refused, reset, closed by the server or mid-flight, connect timeouts, the pool's
///   circuit breaker after the server stayed unreachable;
/// - SQLSTATE class `08` (connection exception), `40001` (serialization failure), `40P01` (deadlock),
///   `55P03` (lock not available), `57P01` (admin shutdown), `57P02` (crash shutdown), `57P03` (cannot connect
///   now: starting up or shutting down), `57P05` (idle session timeout), `53000`/`53100`/`53200`/`53300`
///   (insufficient resources: a full disk, out of memory, too many connections; not `53400`, a configured
///   limit such as `temp_file_limit` that the same event would exceed again), `25006` (a read-only transaction: connected to a
///   standby during a failover), `58030` (an I/O error on the server);
/// - ``ConflictingRowVanished`` (a row deleted between an insert's conflict and its read).
///
/// Everything else is permanent, notably integrity violations (class `23`, e.g. `23505` unique violation), data
/// exceptions (class `22`), syntax and access errors (class `42`), authentication failures (class `28`), task
/// cancellation and a closed client pool.
///
/// Wrappers are looked through: `PostgresTransactionError` (PostgresNIO's `withTransaction`), `PSQLError.underlying`
/// and ``ComplaintStoreError/underlying``.
public enum PostgresErrorClassifier {
    /// Whether retrying the failed operation later can succeed without any change.
    public static func isTransient(_ error: any Error) -> Bool {
        self.classify(error, depth: 0)
    }

    /// Whether a PostgreSQL SQLSTATE denotes a transient condition.
    public static func isTransient(sqlState: String) -> Bool {
        if sqlState.hasPrefix("08") {
            return true
        }
        return Self.transientSQLStates.contains(sqlState)
    }

    /// The SQLSTATE the server reported for `error`, if it is (or wraps) a server error.
    public static func sqlState(of error: any Error) -> String? {
        switch error {
        case let error as PSQLError:
            return error.serverInfo?[.sqlState]
        case let error as PostgresTransactionError:
            return [error.beginError, error.closureError, error.commitError].lazy.compactMap { $0 }
                .compactMap { Self.sqlState(of: $0) }.first
        case let error as ComplaintStoreError:
            return error.underlying.flatMap { Self.sqlState(of: $0) }
        default:
            return nil
        }
    }

    /// Whether `error` is a conflict with a concurrent transaction that running the same work again at once
    /// resolves: a serialisation failure (`40001`), a deadlock (`40P01`), or ``ConflictingRowVanished``.
    public static func isConflict(_ error: any Error) -> Bool {
        if self.unwrapsToVanishedRow(error, depth: 0) { return true }
        let state = self.sqlState(of: error)
        return state == "40001" || state == "40P01"
    }

    private static func unwrapsToVanishedRow(_ error: any Error, depth: Int) -> Bool {
        guard depth < 8 else { return false }
        switch error {
        case is ConflictingRowVanished: return true
        case let error as PostgresTransactionError:
            return error.closureError.map { self.unwrapsToVanishedRow($0, depth: depth + 1) } ?? false
        case let error as ComplaintStoreError:
            return error.underlying.map { self.unwrapsToVanishedRow($0, depth: depth + 1) } ?? false
        default: return false
        }
    }

    /// Whether `error` is a unique violation (`23505`): for inserts that mean "already there".
    public static func isUniqueViolation(_ error: any Error) -> Bool {
        self.sqlState(of: error) == "23505"
    }

    private static let transientSQLStates: Set<String> = [
        "40001", "40P01", "55P03", "57P01", "57P02", "57P03", "57P05", "53000", "53100", "53200", "53300", "25006", "58030",
    ]

    private static let transientErrnos: Set<Int32> = [
        ECONNREFUSED, ECONNRESET, ECONNABORTED, EPIPE, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, ENETDOWN, ENOTCONN,
        EAGAIN, EADDRNOTAVAIL, ENOENT,
    ]

    private static func classify(_ error: any Error, depth: Int) -> Bool {
        guard depth < 8 else { return false }
        switch error {
        case let error as PSQLError:
            return self.classify(error, depth: depth)

        case let error as PostgresTransactionError:
            // The first failure is the cause; a failed ROLLBACK after it is a consequence.
            for cause in [error.beginError, error.closureError, error.commitError, error.rollbackError] {
                if let cause {
                    return self.classify(cause, depth: depth + 1)
                }
            }
            return false

        case let error as ComplaintStoreError:
            return error.underlying.map { self.classify($0, depth: depth + 1) } ?? false

        case is ConflictingRowVanished:
            return true

        case let error as ConnectionPoolError:
            return error == .connectionCreationCircuitBreakerTripped

        case let error as IOError:
            return self.transientErrnos.contains(error.errnoCode)

        case is NIOConnectionError:
            return true

        case let error as ChannelError:
            switch error {
            case .connectTimeout, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof:
                return true
            default:
                return false
            }

        default:
            return false
        }
    }

    private static func classify(_ error: PSQLError, depth: Int) -> Bool {
        switch error.code {
        case .server:
            guard let state = error.serverInfo?[.sqlState] else { return false }
            return self.isTransient(sqlState: state)
        case .connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection:
            // The connection is gone; a new one may work. `clientClosedConnection` is a connection the pool or
            // keep-alive closed under a query, not our own shutdown (that is `poolClosed`).
            return true
        case .poolClosed, .queryCancelled:
            return false
        default:
            if let underlying = error.underlying {
                return self.classify(underlying, depth: depth + 1)
            }
            return false
        }
    }
}
