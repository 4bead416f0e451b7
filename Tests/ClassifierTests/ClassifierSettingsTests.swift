import Classifier
import ComplaintTesting
import Foundation
import Testing

/// The classifier's settings: the CLI's `eval` and `bench` run with the service's, and a plugin list
/// that cannot be what the operator meant refuses to start, naming the variable.
@Suite("Classifier settings", .timeLimit(.minutes(2)))
struct ClassifierSettingsTests {
    static let files = ["CLASSIFIER_RULES_FILE": Repository.rulesFile, "CLASSIFIER_MODEL_FILE": Repository.modelFile]

    /// Runs `body` with `REDRESS_CONFIG_FILE` naming an empty settings file, so that a local
    /// services/classifier/classifier.json stays out (a named file must exist).
    static func withoutSettingsFile<Result>(_ body: ([String: String]) async throws -> Result) async throws -> Result {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("classifier-settings-\(UUID().uuidString).json").path
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await body(files.merging(["REDRESS_CONFIG_FILE": path]) { _, new in new })
    }

    static func load(_ environment: [String: String]) async throws -> ClassifierConfiguration {
        try await withoutSettingsFile { files in
            try await ClassifierConfiguration.load(environment: files.merging(environment) { _, new in new })
        }
    }

    static func refusal(_ environment: [String: String]) async -> String? {
        do {
            _ = try await load(environment)
            return nil
        } catch {
            return String(describing: error)
        }
    }

    @Test("an empty plugin list, or an external URL the plugin list never asks, refuses to start naming the variable")
    func pluginLists() async throws {
        let empty = await Self.refusal(["CLASSIFIER_PLUGINS": ","])
        #expect(empty?.contains("CLASSIFIER_PLUGINS") == true, "\(empty ?? "accepted")")
        let unused = await Self.refusal(["CLASSIFIER_PLUGINS": "keyword,logistic", "CLASSIFIER_EXTERNAL_URL": "https://model.example/classify"])
        #expect(unused?.contains("CLASSIFIER_EXTERNAL_URL") == true && unused?.contains("CLASSIFIER_PLUGINS") == true, "\(unused ?? "accepted")")
        // What still works: a URL alone adds http; a list with http and a URL; a list without a URL.
        #expect(try await Self.load(["CLASSIFIER_EXTERNAL_URL": "https://model.example/classify"]).plugins == ["keyword", "logistic", "http"])
        #expect(try await Self.load(["CLASSIFIER_PLUGINS": "keyword, http", "CLASSIFIER_EXTERNAL_URL": "https://model.example/classify"]).plugins == ["keyword", "http"])
        #expect(try await Self.load(["CLASSIFIER_PLUGINS": "keyword"]).plugins == ["keyword"])
    }

    /// Runs `redress classifier …` and returns its exit status and output.
    static func redress(_ arguments: [String], environment: [String: String]) async throws -> (Int32, String) {
        let executable = try #require(RedressExecutable.url, "redress was not built")
        let inherited = ProcessInfo.processInfo.environment.keys.filter { $0.hasPrefix("CLASSIFIER_") }
        return try await withoutSettingsFile { files in
            let child = try await ChildProcess(
                executable, arguments: ["classifier"] + arguments, environment: files.merging(environment) { _, new in new },
                removing: inherited, workingDirectory: Repository.root)
            defer { child.stop() }
            try #require(await child.waitForExit(timeout: .seconds(120)) != nil, "redress classifier \(arguments) still runs: \(child.output)")
            return (child.terminationStatus, child.output)
        }
    }

    @Test("classifier bench and eval run with the service's CLASSIFIER_* settings; an option overrides them")
    func commandLineUsesServiceSettings() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("classifier-settings-\(UUID().uuidString).jsonl")
        try Data(#"{"text":"The bedside lamp flickers now and then.","category":"maintenance","severity":"minor","language":"en"}"#.utf8).write(to: data)
        defer { try? FileManager.default.removeItem(at: data) }
        let (status, output) = try await Self.redress(
            ["bench", "--count", "1", "--data", data.path], environment: ["CLASSIFIER_SERIOUS_THRESHOLD": "0.9", "CLASSIFIER_REVIEW_THRESHOLD": "0.2"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("serious threshold 0.9, review threshold 0.2"), "\(output)")
        let (evalStatus, evalOutput) = try await Self.redress(
            ["eval", "--data", data.path, "--serious-threshold", "0.5"], environment: ["CLASSIFIER_SERIOUS_THRESHOLD": "0.9"])
        #expect(evalStatus == 0, "\(evalOutput)")
        #expect(evalOutput.contains("serious threshold 0.5"), "\(evalOutput)")
        let (refused, refusal) = try await Self.redress(["bench", "--count", "1", "--data", data.path], environment: ["CLASSIFIER_PLUGINS": ","])
        #expect(refused != 0)
        #expect(refusal.contains("CLASSIFIER_PLUGINS"), "\(refusal)")
    }
}
