import ComplaintEvents
import Foundation

/// One line of the labeled data (`services/classifier/data/*.jsonl`):
/// `{"text": …, "category": …, "severity": …, "language": …}`, and `"pair": …` on the two lines of
/// a minimal pair (one situation written twice, serious and not).
public struct LabeledExample: Codable, Sendable, Hashable {
    public var text: String
    public var category: ComplaintCategory
    public var severity: Severity
    public var language: String?
    /// Lines that share it are one minimal pair: validation and cross-validation keep them on the
    /// same side, so that no line is scored by a model that learnt its twin. Training ignores it.
    public var pair: String?

    public init(text: String, category: ComplaintCategory, severity: Severity, language: String? = nil, pair: String? = nil) {
        self.text = text
        self.category = category
        self.severity = severity
        self.language = language
        self.pair = pair
    }

    /// A data file that cannot be read, with the line at fault.
    public struct ReadError: Error, CustomStringConvertible {
        public var file: String
        public var line: Int?
        public var reason: String
        public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(reason)" }
    }

    /// Reads a JSONL file; blank lines are skipped.
    public static func read(contentsOf path: String) throws(ReadError) -> [LabeledExample] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ReadError(file: path, line: nil, reason: "cannot be read (\(error.localizedDescription))")
        }
        return try parse(data, file: path)
    }

    public static func parse(_ data: Data, file: String) throws(ReadError) -> [LabeledExample] {
        let decoder = JSONDecoder()
        var examples: [LabeledExample] = []
        for (number, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do {
                examples.append(try decoder.decode(LabeledExample.self, from: Data(line)))
            } catch {
                throw ReadError(file: file, line: number + 1, reason: "not a labeled example (\(error))")
            }
        }
        return examples
    }
}
