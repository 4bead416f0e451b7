import Logging
import Synchronization

/// A log handler that keeps what a logger was given, so a test can read the lines a service wrote
/// (that a refused file was named, that a credential was left out).
public final class CapturedLogs: LogHandler, Sendable {
    /// One log call.
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    private let stored = Mutex<[Entry]>([])

    public init() {}

    /// Every call so far, in order.
    public var entries: [Entry] { stored.withLock { $0 } }

    public var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }

    public var logLevel: Logger.Level {
        get { .trace }
        set {}
    }

    public subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    public func log(event: LogEvent) {
        let metadata = (event.metadata ?? [:]).mapValues { "\($0)" }
        stored.withLock { $0.append(Entry(level: event.level, message: "\(event.message)", metadata: metadata)) }
    }
}
