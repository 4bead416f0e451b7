import Foundation
import Logging

/// A swift-log handler that writes one JSON object per line (what log shippers expect), and never
/// writes guest personal data: values under `guest.*` keys, and the keys listed in
/// ``personalDataKeys``, are replaced by `"[redacted]"` wherever they appear in the metadata.
public struct JSONLogHandler: LogHandler {
    /// Metadata keys that carry personal data besides everything under `guest.`.
    public static let personalDataKeys: Set<String> = ["name", "phone", "email", "roomNumber", "room", "contact", "loyaltyId"]

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// A handler writing to standard error.
    public init(label: String) {
        self.init(label: label) { line in
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    /// A handler writing each line (newline included) to `write`.
    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var object: [String: Any] = [
            "time": Self.timestamp(),
            "level": event.level.rawValue,
            "logger": label,
            "message": "\(event.message)",
            "source": event.source,
        ]
        if !merged.isEmpty { object["metadata"] = Self.redacted(merged) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        write(String(decoding: data, as: UTF8.self) + "\n")
    }

    static func isPersonal(_ key: String) -> Bool {
        key.hasPrefix("guest.") || key == "guest" || personalDataKeys.contains(key)
    }

    static func redacted(_ metadata: Logger.Metadata) -> [String: Any] {
        var result: [String: Any] = [:]
        for (key, value) in metadata {
            result[key] = isPersonal(key) ? "[redacted]" : jsonValue(value)
        }
        return result
    }

    static func jsonValue(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): "\(convertible)"
        case .array(let values): values.map(jsonValue)
        case .dictionary(let dictionary): redacted(dictionary)
        }
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
