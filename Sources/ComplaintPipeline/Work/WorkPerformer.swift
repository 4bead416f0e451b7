import ComplaintEvents
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// Performs intents of the work queue: the one place where a stage calls the outside world (sends an
/// e-mail, posts a webhook), always outside any database transaction.
///
/// A ``WorkQueueWorker`` claims due intents of ``kinds``, calls ``perform(_:logger:)`` with each, and
/// then, in one transaction with the service's schema on the `search_path`, records the outcome and
/// calls ``record(_:result:context:)`` so the stage can write its own tables and publish a receipt.
public protocol WorkPerformer: Sendable {
    /// The intent kinds this performer handles (`webhook`, `email`).
    var kinds: [String] { get }

    /// Makes the call for `item`, sending ``ComplaintStore/WorkItem/idempotencyKey`` along so that a repeated
    /// call (after a crash between the call and recording its outcome) is recognisable.
    ///
    /// - Returns: A short description of the outcome (a receipt id, a status line), stored with the intent.
    /// - Throws: A ``WorkFailure`` to say whether to retry (and when); a ``WorkDeferral`` to say "not
    ///   now" (quiet hours, a rate limit): the intent waits without using an attempt; any other error
    ///   counts as transient and is retried with backoff until the attempts run out.
    func perform(_ item: WorkItem, logger: Logger) async throws -> String

    /// Records what became of `item` in the stage's own tables, in the transaction that settles it.
    /// - Returns: Events to publish (a delivery receipt), through the outbox.
    func record(_ item: WorkItem, result: WorkResult, context: WorkContext) async throws -> [OutgoingEvent]
}

extension WorkPerformer {
    /// By default nothing beyond the work queue's own row is recorded.
    public func record(_ item: WorkItem, result: WorkResult, context: WorkContext) async throws -> [OutgoingEvent] { [] }
}

/// What became of one attempt at an intent.
public enum WorkResult: Sendable, Hashable {
    /// The call succeeded; the description ``WorkPerformer/perform(_:logger:)`` returned.
    case succeeded(String)
    /// The call failed and will be tried again at that time.
    case willRetry(reason: String, at: Date)
    /// Given up: a permanent failure, or the last attempt failed.
    case failed(reason: String)
    /// Not attempted: the performer deferred it (``WorkDeferral``) until that time. The claim's attempt
    /// is handed back, so a deferral never brings the intent closer to being given up.
    case deferred(reason: String, until: Date)
}

extension WorkResult {
    /// The longest outcome or reason recorded, in Unicode scalars.
    static let maximumTextLength = 2000

    /// The same result with `note` after its outcome or reason.
    func noting(_ note: String) -> WorkResult {
        switch self {
        case .succeeded(let outcome): return .succeeded("\(outcome) (\(note))")
        case .willRetry(let reason, let date): return .willRetry(reason: "\(reason) (\(note))", at: date)
        case .failed(let reason): return .failed(reason: "\(reason) (\(note))")
        case .deferred(let reason, let date): return .deferred(reason: "\(reason) (\(note))", until: date)
        }
    }

    /// The same result with its text fit for a PostgreSQL `text` column: cut to
    /// ``maximumTextLength`` scalars, NUL (which a receiver's answer may hold and PostgreSQL refuses)
    /// replaced by U+FFFD — otherwise recording the outcome would fail on every try.
    public var storable: WorkResult {
        func fit(_ text: String) -> String { text.storable(maximumScalars: Self.maximumTextLength) }
        switch self {
        case .succeeded(let outcome): return .succeeded(fit(outcome))
        case .willRetry(let reason, let date): return .willRetry(reason: fit(reason), at: date)
        case .failed(let reason): return .failed(reason: fit(reason))
        case .deferred(let reason, let date): return .deferred(reason: fit(reason), until: date)
        }
    }
}

/// An error a performer throws to steer retries.
public struct WorkFailure: Error, Hashable, CustomStringConvertible {
    /// Why the call failed (stored with the intent; no personal data).
    public var reason: String
    /// `true`: retrying cannot help (a 4xx answer, an address that does not exist).
    public var isPermanent: Bool
    /// The receiver asked to wait this long (`Retry-After`); overrides the backoff.
    public var retryAfter: Duration?

    /// A failure that retrying cannot cure.
    public static func permanent(_ reason: String) -> WorkFailure { WorkFailure(reason: reason, isPermanent: true, retryAfter: nil) }
    /// A failure worth retrying, optionally not before `retryAfter`.
    public static func transient(_ reason: String, retryAfter: Duration? = nil) -> WorkFailure {
        WorkFailure(reason: reason, isPermanent: false, retryAfter: retryAfter)
    }

    public var description: String { reason }
}

/// What a performer throws to say "not now" rather than "failed": a deliberate hold (the recipient's
/// quiet hours, a rate limit of our own) that an earlier retry could not change. The intent is due again
/// at ``until``, and the attempt it was claimed with is not counted, however often it is deferred.
public struct WorkDeferral: Error, Hashable, CustomStringConvertible {
    /// Why it waits (stored with the intent; no personal data).
    public var reason: String
    /// When it is due again: a time compared with the database's clock as it is, or, when
    /// ``countsFromNow``, this process's now plus the wait.
    public var until: Date
    /// Made by ``init(reason:after:)``: the intent waits the time left until ``until`` on the database's
    /// clock, which claims compare with, whatever the difference between the two clocks.
    public private(set) var countsFromNow = false

    /// Due again at `until`, a time compared with the database's clock as it is: a time the database
    /// gave, or a time of day (the end of quiet hours).
    public init(reason: String, until: Date) {
        self.reason = reason
        self.until = until
    }

    /// Due again after `wait` ("again in 60 s"), counted on the database's clock: a time of this
    /// process's clock (its now plus the wait) was late by the clocks' difference with this one ahead,
    /// and early with it behind.
    public init(reason: String, after wait: Duration) {
        self.reason = reason
        self.until = Date().addingTimeInterval(Double(wait.milliseconds) / 1000)
        self.countsFromNow = true
    }

    public var description: String { reason }
}

/// What ``WorkPerformer/record(_:result:context:)`` gets: the settling transaction's connection.
public struct WorkContext: Sendable {
    public var logger: Logger
    /// The connection of the settling transaction. Never commit or roll back on it yourself.
    public var connection: PostgresConnection
}
