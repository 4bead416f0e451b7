import Foundation
import Yams

/// A service's YAML configuration file (an organisation, SLA policies, notification rules), decoded into
/// Codable types and checked, with every problem reported as `file:line: field: reason`, so that an
/// operator who made a typo sees where it is and a service never starts on a half-understood file.
public struct ConfigurationFile {
    /// Where the text came from (shown in errors).
    public let path: String
    /// The text, as read.
    public let text: String
    private let root: Node?

    /// Parses `text`; `path` only names it in errors.
    /// - Throws: A ``ConfigurationFileError`` when it is not YAML.
    public init(text: String, path: String) throws(ConfigurationFileError) {
        self.path = path
        self.text = text
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationFileError(file: path, line: Self.line(of: error), field: "", reason: "is not valid YAML (\(error))")
        } catch {
            throw ConfigurationFileError(file: path, line: nil, field: "", reason: "is not valid YAML (\(error))")
        }
    }

    /// Reads and parses the file at `path`.
    public init(contentsOf path: String) throws(ConfigurationFileError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationFileError(file: path, line: nil, field: "", reason: "cannot be read (\(error.localizedDescription))")
        }
        try self.init(text: text, path: path)
    }

    /// Decodes the whole file as `type`. Unknown keys are not rejected by the decoder; check them with
    /// ``unknownKeys(allowed:)`` if they matter.
    /// - Throws: A ``ConfigurationFileError`` naming the line and field of a missing or mistyped value.
    public func decode<Value: Decodable>(_ type: Value.Type) throws(ConfigurationFileError) -> Value {
        guard let root else { throw error(at: [], "is empty") }
        do {
            return try YAMLDecoder().decode(type, from: root)
        } catch let decoding as DecodingError {
            switch decoding {
            case .keyNotFound(let key, let context):
                throw error(at: context.codingPath.map(FieldPath.Component.init), "\(key.stringValue) is missing")
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                throw error(at: context.codingPath.map(FieldPath.Component.init), context.debugDescription)
            @unknown default:
                throw error(at: [], "\(decoding)")
            }
        } catch let failure as ConfigurationFileError {
            throw failure
        } catch {
            throw self.error(at: [], "\(error)")
        }
    }

    /// The first key of a mapping that `allowed` does not know, as an error; `allowed` answers for a
    /// mapping at a path (with indices left out: `hotels.staff.shifts`), `nil` for "any key".
    public func unknownKeys(allowed: (String) -> Set<String>?) -> ConfigurationFileError? {
        guard let root else { return nil }
        func walk(_ node: Node, _ path: [FieldPath.Component]) -> ConfigurationFileError? {
            switch node {
            case .mapping(let mapping):
                let shape = path.compactMap { if case .key(let key) = $0 { key } else { nil } }.joined(separator: ".")
                for (keyNode, value) in mapping {
                    guard let key = keyNode.string else { continue }
                    if let known = allowed(shape), !known.contains(key) {
                        return ConfigurationFileError(
                            file: self.path, line: keyNode.mark.map { $0.line }, field: FieldPath(path + [.key(key)]).description,
                            reason: "is not a known setting (expected one of \(known.sorted().joined(separator: ", ")))")
                    }
                    if let failure = walk(value, path + [.key(key)]) { return failure }
                }
            case .sequence(let sequence):
                for (index, element) in sequence.enumerated() {
                    if let failure = walk(element, path + [.index(index)]) { return failure }
                }
            default:
                break
            }
            return nil
        }
        return walk(root, [])
    }

    /// An error about the value at `path`, with its line when the file has it.
    public func error(at path: [FieldPath.Component], _ reason: String) -> ConfigurationFileError {
        ConfigurationFileError(file: self.path, line: line(of: path), field: FieldPath(path).description, reason: reason)
    }

    /// The line of the value at `path`, or of its nearest ancestor that exists.
    public func line(of path: [FieldPath.Component]) -> Int? {
        guard var node = root else { return nil }
        var line = node.mark?.line
        for component in path {
            switch (component, node) {
            case (.key(let key), .mapping(let mapping)):
                guard let pair = mapping.first(where: { $0.key.string == key }) else { return line }
                line = pair.key.mark?.line ?? line
                node = pair.value
            case (.index(let index), .sequence(let sequence)):
                guard index < sequence.count else { return line }
                node = sequence[index]
                line = node.mark?.line ?? line
            default:
                return line
            }
        }
        return line
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }
}

/// A path to a value inside a configuration document or request body: `hotels[0].staff[3].capacity`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    /// A mapping key or a sequence index.
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)

        init(_ key: any CodingKey) {
            if let index = key.intValue { self = .index(index) } else { self = .key(key.stringValue) }
        }
    }

    public var components: [Component]

    public init(_ components: [Component]) {
        self.components = components
    }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let key): text += text.isEmpty ? key : ".\(key)"
            case .index(let index): text += "[\(index)]"
            }
        }
        return text
    }
}

/// A configuration file that cannot be used: which file, line and field, and why.
public struct ConfigurationFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var field: String
    public var reason: String

    public init(file: String, line: Int?, field: String, reason: String) {
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
    }

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(field.isEmpty ? "" : "\(field): ")\(reason)"
    }
}
