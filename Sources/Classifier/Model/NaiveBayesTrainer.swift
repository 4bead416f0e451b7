import ComplaintEvents
import Crypto
import Foundation

/// Trains a ``NaiveBayesModel`` from labeled files, deterministically: files are read in name
/// order, the vocabulary is sorted by UTF-8 bytes, counts are integers, and the version is a hash
/// of the data and the parameters. The same inputs always give the same bytes.
public struct NaiveBayesTrainer: Sendable {
    public var parameters: NaiveBayesModel.Parameters

    public init(parameters: NaiveBayesModel.Parameters = .init()) {
        self.parameters = parameters
    }

    /// Trains from JSONL files (see ``LabeledExample``).
    public func train(files: [String]) throws -> NaiveBayesModel {
        let ordered = files.sorted { ($0 as NSString).lastPathComponent < ($1 as NSString).lastPathComponent }
        var sources: [NaiveBayesModel.Source] = []
        var examples: [LabeledExample] = []
        for file in ordered {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let parsed = try LabeledExample.parse(data, file: file)
            sources.append(.init(
                file: (file as NSString).lastPathComponent,
                sha256: SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined(),
                examples: parsed.count))
            examples += parsed
        }
        return train(examples: examples, sources: sources)
    }

    /// Trains from examples; `sources` describe where they came from (and enter the version hash).
    public func train(examples: [LabeledExample], sources: [NaiveBayesModel.Source] = []) -> NaiveBayesModel {
        let categories = ComplaintCategory.allCases
        let severities = Severity.allCases
        let categoryIndex = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) })
        let severityIndex = Dictionary(uniqueKeysWithValues: severities.enumerated().map { ($1, $0) })
        var categoryDocuments = [Int](repeating: 0, count: categories.count)
        var severityDocuments = [Int](repeating: 0, count: severities.count)
        var counts: [String: (category: [Int], severity: [Int])] = [:]
        for example in examples {
            let c = categoryIndex[example.category]!
            let s = severityIndex[example.severity]!
            categoryDocuments[c] += 1
            severityDocuments[s] += 1
            for gram in FeatureExtractor.strings(of: NormalizedText(example.text)) {
                var entry = counts[gram] ?? ([Int](repeating: 0, count: categories.count), [Int](repeating: 0, count: severities.count))
                entry.category[c] += 1
                entry.severity[s] += 1
                counts[gram] = entry
            }
        }
        let features = counts
            .filter { $0.value.category.reduce(0, +) >= parameters.minimumCount }
            .map { NaiveBayesModel.Feature(gram: $0.key, categoryCounts: $0.value.category, severityCounts: $0.value.severity) }
            .sorted { $0.gram.utf8.lexicographicallyPrecedes($1.gram.utf8) }

        var hasher = SHA256()
        hasher.update(data: Data("\(NaiveBayesModel.formatName)\nalpha=\(NaiveBayesModel.decimal(parameters.alpha))\nminimumCount=\(parameters.minimumCount)\nfeatures=\(parameters.features)\n".utf8))
        if sources.isEmpty {
            let lines = examples.map { "\($0.category.rawValue)\t\($0.severity.rawValue)\t\($0.text)\n" }
            for line in lines.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) { hasher.update(data: Data(line.utf8)) }
        } else {
            for source in sources { hasher.update(data: Data("\(source.file)\t\(source.sha256)\n".utf8)) }
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        return NaiveBayesModel(
            format: NaiveBayesModel.formatName, version: "nb-" + digest.prefix(12), parameters: parameters, sources: sources,
            categories: categories, severities: severities, categoryDocuments: categoryDocuments,
            severityDocuments: severityDocuments, features: features)
    }
}
