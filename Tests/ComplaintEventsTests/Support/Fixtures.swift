import EmbeddedDefault
import Foundation
import Testing

@testable import ComplaintEvents

/// The repository's `schemas/` directory and the files in it, found from this source file's path.
enum Fixtures {
    static let schemas = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // ComplaintEventsTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("schemas")

    static var examples: URL { schemas.appendingPathComponent("examples") }
    static var eventSchemas: URL { schemas.appendingPathComponent("events") }
    static var validator: URL { schemas.appendingPathComponent("tools/validate.py") }

    /// `schemas/examples/*.json`, sorted.
    static let exampleFiles: [URL] = files(in: examples, suffix: ".json")

    /// `schemas/events/*.schema.json`, sorted.
    static let eventSchemaFiles: [URL] = files(in: eventSchemas, suffix: ".schema.json")

    static func files(in directory: URL, suffix: String) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(suffix) }.sorted().map { directory.appendingPathComponent($0) }
    }

    static func bytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }

    static func json(_ url: URL) throws -> JSONValue {
        try JSONParser.parse(bytes(url), maximumSize: 1 << 24, maximumDepth: 64)
    }

    /// The schema name a file is checked against: `complaint-updated.v1` for
    /// `complaint-updated.v1.resolved.zh.json`, as `validate.py` maps it.
    static func schemaName(of file: URL) -> String {
        let parts = file.lastPathComponent.split(separator: ".")
        return parts.prefix(2).joined(separator: ".")
    }

    /// A fresh directory under the system's temporary directory.
    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("redress-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Runs `schemas/tools/validate.py` (Python `jsonschema`, a validator we did not write).
enum SchemaValidator {
    struct Result: Sendable {
        var file: String
        var valid: Bool
        var errors: [(path: String, message: String)]
    }

    /// Validates every `*.json` below `paths`; one result per file, plus one for `asyncapi.yaml`.
    static func validate(_ paths: [URL]) async throws -> [Result] {
        // Through swift-subprocess (ProgramRun), not Foundation's Process, whose start can crash a test process
        // holding many descriptors.
        let run = try await ProgramRun.run("/usr/bin/env", ["python3", Fixtures.validator.path, "--json"] + paths.map(\.path))
        guard !run.signalled, run.status == 0 || run.status == 1 else {
            throw ValidatorUnavailable(
                message: "schemas/tools/validate.py could not run (\(run.signalled ? "signal" : "exit") \(run.status)); it needs python3 "
                    + "with jsonschema, referencing and PyYAML (`pip install jsonschema PyYAML`): "
                    + run.standardError)
        }
        let stdout = run.standardOutput
        return try stdout.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let errors = (object["errors"] as! [[String: String]]).map { ($0["path"]!, $0["message"]!) }
            return Result(file: object["file"] as! String, valid: object["valid"] as! Bool, errors: errors)
        }
    }

    struct ValidatorUnavailable: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
