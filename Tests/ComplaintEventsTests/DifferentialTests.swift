import Foundation
import Testing

@testable import ComplaintEvents

/// The Swift decoder and the JSON Schemas must agree on what is valid. Every example, and random
/// generated events, are mutated one node at a time (member removed or added, value emptied,
/// lengthened, retyped, pushed past a bound); Python `jsonschema` and the Swift decoder then judge
/// each mutant. Their verdicts must match, and when both reject, the path Swift names must be among
/// the paths `jsonschema` names.
@Suite struct DifferentialTests {
    enum Step: CustomStringConvertible {
        case key(String)
        case index(Int)

        var description: String {
            switch self {
            case .key(let key): ".\(key)"
            case .index(let index): "[\(index)]"
            }
        }
    }

    struct Mutant {
        let schema: String
        let label: String
        let bytes: [UInt8]
    }

    /// Every node of `value` with its path.
    static func nodes(_ value: JSONValue, at path: [Step] = []) -> [([Step], JSONValue)] {
        var result = [(path, value)]
        switch value {
        case .object(let members):
            for member in members { result += nodes(member.value, at: path + [.key(member.key)]) }
        case .array(let elements):
            for (index, element) in elements.enumerated() { result += nodes(element, at: path + [.index(index)]) }
        default:
            break
        }
        return result
    }

    /// `root` with the node at `path` replaced by `replacement`, or removed when it is nil.
    static func replacing(_ root: JSONValue, at path: ArraySlice<Step>, with replacement: JSONValue?) -> JSONValue? {
        guard let step = path.first else { return replacement }
        switch (root, step) {
        case (.object(let members), .key(let key)):
            return .object(members.compactMap { member in
                guard member.key == key else { return member }
                return replacing(member.value, at: path.dropFirst(), with: replacement).map { (key, $0) }
            })
        case (.array(var elements), .index(let index)):
            if let element = replacing(elements[index], at: path.dropFirst(), with: replacement) {
                elements[index] = element
            } else {
                elements.remove(at: index)
            }
            return .array(elements)
        default:
            return root
        }
    }

    /// Single-node mutations of `value`.
    static func mutations(of value: JSONValue) -> [(String, JSONValue?)] {
        switch value {
        case .object(let members):
            return [
                ("add an unknown member", .object(members + [("zzUnexpected", .bool(true))])),
                ("add a lower-case extension member", .object(members + [("zzunexpected", .string("x"))])),
                ("replace the object by a string", .string("x")),
                ("remove", nil),
            ]
        case .array(let elements):
            return [
                ("replace the array by an object", .object([])),
                ("duplicate the first element", .array(elements + elements.prefix(1))),
                ("drop the first element", .array(Array(elements.dropFirst()))),
                ("remove", nil),
            ]
        case .string(let text):
            return [
                ("empty the string", .string("")),
                ("append a character", .string(text + "x")),
                ("replace by 5000 characters", .string(String(repeating: "x", count: 5000))),
                ("replace by a word outside any vocabulary", .string("not_a_value!")),
                ("upper-case the string", .string(text.uppercased())),
                ("replace by a number", .integer(42)),
                ("remove", nil),
            ]
        case .integer(let number):
            return [
                ("add 1", .integer(number &+ 1)), ("subtract 1", .integer(number &- 1)),
                ("add a half", .double(Double(number) + 0.5)), ("negate", .integer(-number &- 1)),
                ("scale beyond range", .double(Double(number) * 1e6 + 1e6)),
                ("replace by a string", .string(String(number))), ("remove", nil),
            ]
        case .double(let number):
            return [
                ("add 1", .double(number + 1)), ("subtract 1", .double(number - 1)), ("negate", .double(-number - 1)),
                ("scale beyond range", .double(number * 1e6 + 1e6)), ("replace by a string", .string(String(number))),
                ("remove", nil),
            ]
        case .bool(let flag):
            return [("negate", .bool(!flag)), ("replace by a string", .string(String(flag))), ("remove", nil)]
        case .null:
            return [("remove", nil)]
        }
    }

    /// Where and how `document` can be mutated, cheaply; ``Mutant``s are made only for sites used.
    static func sites(of document: JSONValue) -> [(path: [Step], label: String, replacement: JSONValue?)] {
        nodes(document).flatMap { path, node in
            mutations(of: node).compactMap { label, replacement in
                path.isEmpty && replacement == nil ? nil : (path, label, replacement)
            }
        }
    }

    static func mutant(
        of document: JSONValue, at site: (path: [Step], label: String, replacement: JSONValue?), schema: String, source: String
    ) -> Mutant {
        let mutated = replacing(document, at: site.path[...], with: site.replacement) ?? .null
        let location = site.path.map(\.description).joined()
        return Mutant(
            schema: schema, label: "\(source) \(location.isEmpty ? "(root)" : location): \(site.label)",
            bytes: JSONWriter.write(mutated))
    }

    @Test func swiftAndJSONSchemaAgreeOnMutatedEvents() async throws {
        var mutants: [Mutant] = []
        for file in Fixtures.exampleFiles {
            let document = try Fixtures.json(file)
            mutants += Self.sites(of: document).map { site in
                Self.mutant(of: document, at: site, schema: Fixtures.schemaName(of: file), source: file.lastPathComponent)
            }
        }
        // Generated events reach the bounds (maximum lengths, extreme numbers) that examples do not.
        var generator = EventGenerator(seed: 7)
        for topicCase in TopicCase.all {
            let schema = try #require(EventSchemaInfo.all.first { $0.topicName == topicCase.topic.name })
            for index in 0..<40 {
                let document = try JSONParser.parse(
                    try topicCase.generate(&generator).encoded, maximumSize: 1 << 22, maximumDepth: 64)
                let sites = Self.sites(of: document)
                for _ in 0..<8 {
                    mutants.append(Self.mutant(
                        of: document, at: generator.pick(sites), schema: schema.name, source: "generated \(schema.name) #\(index)"))
                }
            }
        }

        let directory = try Fixtures.temporaryDirectory("mutants")
        defer { try? FileManager.default.removeItem(at: directory) }
        var byFile: [String: Mutant] = [:]
        for (index, mutant) in mutants.enumerated() {
            let url = directory.appendingPathComponent("\(mutant.schema).m\(index).json")
            try Data(mutant.bytes).write(to: url)
            byFile[url.path] = mutant
        }
        let verdicts = try await SchemaValidator.validate([directory]).filter { byFile[$0.file] != nil }
        #expect(verdicts.count == mutants.count)

        var disagreements: [String] = []
        var rejected = 0
        for verdict in verdicts {
            let mutant = byFile[verdict.file]!
            let topic = try #require(Topics.named(EventSchemaInfo.named(mutant.schema)!.topicName))
            var swiftError: EventValidationError?
            do { try topic.validate(mutant.bytes) } catch { swiftError = error }
            switch (verdict.valid, swiftError) {
            case (true, nil):
                break
            case (false, let error?):
                rejected += 1
                if !verdict.errors.contains(where: { $0.path == error.path }) {
                    disagreements.append("\(mutant.label): Swift says \"\(error)\", jsonschema says \(verdict.errors.map { "\($0.path): \($0.message)" })")
                }
            case (true, let error?):
                disagreements.append("\(mutant.label): Swift rejects (\(error)), jsonschema accepts")
            case (false, nil):
                disagreements.append("\(mutant.label): Swift accepts, jsonschema rejects: \(verdict.errors.map { "\($0.path): \($0.message)" })")
            }
        }
        for disagreement in disagreements.prefix(25) { Issue.record(Comment(rawValue: disagreement)) }
        #expect(disagreements.isEmpty, "\(disagreements.count) of \(mutants.count) mutants judged differently")
        #expect(rejected > mutants.count / 2, "most mutants should be invalid; only \(rejected) were")
    }
}
