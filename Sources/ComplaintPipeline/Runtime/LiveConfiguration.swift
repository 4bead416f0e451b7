import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// A configuration file a running service follows (SLA policies, notification rules): it is re-read when
/// its text changes and swapped in only when it loads cleanly. A broken edit is logged with its line and
/// field and counted, and the last good value stays in force, so a typo never stops a running service.
/// The first load happens at start and throws, so a broken file stops a service that has nothing good yet.
public final class LiveConfiguration<Value: Sendable>: Sendable {
    /// What one look at the file found.
    public enum Reload: Sendable, Equatable {
        /// The text is what is in force.
        case unchanged
        /// New text that loaded cleanly; it is now in force.
        case loaded
        /// New text that did not load; the last good value stays.
        case rejected(ConfigurationFileError)
    }

    /// The file followed (`nil` for a fixed value).
    public let path: String?
    /// Names the file in logs and in the `redress_configuration_reloads_total{file=…}` counter.
    public let name: String
    private let load: @Sendable (ConfigurationFile) throws(ConfigurationFileError) -> Value
    private let state: Mutex<(value: Value, text: String, rejectedText: String?)>

    /// Loads `path` now with `load` (which checks it).
    /// - Throws: The ``ConfigurationFileError`` of a file that cannot be read or does not load.
    public init(
        name: String, path: String, load: @escaping @Sendable (ConfigurationFile) throws(ConfigurationFileError) -> Value
    ) throws(ConfigurationFileError) {
        let file = try ConfigurationFile(contentsOf: path)
        self.name = name
        self.path = path
        self.load = load
        self.state = Mutex((try load(file), file.text, nil))
    }

    /// A value that never changes (tests, benchmarks, a service started without a file).
    public init(name: String, fixed value: Value) {
        self.name = name
        self.path = nil
        self.load = { _ throws(ConfigurationFileError) in value }
        self.state = Mutex((value, "", nil))
    }

    /// The value in force.
    public var current: Value { state.withLock { $0.value } }

    /// Reads the file again and swaps in its value if the text changed and it loads. A file that cannot
    /// be read (being replaced, a missing mount) is a rejection too: the last good value stays.
    @discardableResult
    public func reload() -> Reload {
        guard let path else { return .unchanged }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let failure = ConfigurationFileError(file: path, line: nil, field: "", reason: "cannot be read (\(error.localizedDescription))")
            // Reported once, like a broken text, until the reason changes or the file reads again: an
            // unmounted ConfigMap was an error line and a rejection counted every look.
            return rejected(failure, text: Self.unreadable + failure.reason)
        }
        state.withLock { if $0.rejectedText?.hasPrefix(Self.unreadable) == true { $0.rejectedText = nil } }
        guard state.withLock({ $0.text != text && $0.rejectedText != text }) else { return .unchanged }
        do {
            let value = try load(ConfigurationFile(text: text, path: path))
            state.withLock { $0 = (value, text, nil) }
            Counter(label: "redress_configuration_reloads_total", dimensions: [("file", name), ("result", "loaded")]).increment()
            return .loaded
        } catch {
            return rejected(error, text: text)
        }
    }

    /// Marks a read failure's reason where a rejected text is remembered (no file text starts with NUL).
    private static var unreadable: String { "\u{0}unreadable: " }

    private func rejected(_ failure: ConfigurationFileError, text: String) -> Reload {
        // The same broken text (or read failure) is reported once, not on every look.
        let isNew = state.withLock { state -> Bool in
            defer { state.rejectedText = text }
            return state.rejectedText != text
        }
        guard isNew else { return .unchanged }
        Counter(label: "redress_configuration_reloads_total", dimensions: [("file", name), ("result", "rejected")]).increment()
        return .rejected(failure)
    }

    /// A background service that looks at the file every `interval` and logs what changed.
    public func follower(every interval: Duration = .seconds(5), logger: Logger) -> some Service {
        ConfigurationFollower(configuration: self, interval: interval, logger: logger)
    }

    /// The follower as a stage's background service named `name`, or `nil` for a fixed value.
    public func followerService(named name: String, every interval: Duration) -> BackgroundService? {
        guard path != nil else { return nil }
        return BackgroundService(name: name) { resources in self.follower(every: interval, logger: resources.logger) }
    }
}

/// Looks at a ``LiveConfiguration``'s file on an interval until shutdown (a mounted ConfigMap or an edited
/// file on a host both change the text; no signal handling is needed).
struct ConfigurationFollower<Value: Sendable>: Service {
    let configuration: LiveConfiguration<Value>
    let interval: Duration
    let logger: Logger

    func run() async throws {
        guard let path = configuration.path else { return }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            switch configuration.reload() {
            case .unchanged: break
            case .loaded:
                logger.notice("configuration reloaded", metadata: ["configuration": "\(configuration.name)", "path": "\(path)"])
            case .rejected(let failure):
                logger.error("configuration change rejected; the last good one stays in force", metadata: [
                    "configuration": "\(configuration.name)", "path": "\(path)", LoggingKeys.error: "\(failure)",
                ])
            }
        }
    }
}
