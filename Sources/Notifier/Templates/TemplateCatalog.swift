import ComplaintPipeline
import Foundation
import Mustache
import Yams

/// The notifier's message templates (`services/notifier/templates/<language>/<template>.yaml`, each with
/// a mustache `subject`, `text` and optional `html`), plus each language's labels for categories,
/// severities and SLA targets (`labels.yaml`). Loaded and compiled once at start: a template that does not
/// parse stops the service with its file and part.
public struct TemplateCatalog: Sendable {
    /// The shipped folder, relative to the Redress home.
    public static let defaultPath = "services/notifier/templates"

    struct Compiled: Sendable {
        var subject: MustacheTemplate
        var text: MustacheTemplate
        var html: MustacheTemplate?
    }

    private var templates: [String: Compiled] = [:]
    private var labels: [String: [String: [String: String]]] = [:]

    /// A template that cannot be used: which file and why.
    public struct LoadError: Error, CustomStringConvertible {
        public var file: String
        public var reason: String
        public var description: String { "\(file): \(reason)" }
    }

    /// Loads every language folder under `folder`.
    public init(folder: String) throws(LoadError) {
        let manager = FileManager.default
        guard let languages = try? manager.contentsOfDirectory(atPath: folder), !languages.isEmpty else {
            throw LoadError(file: folder, reason: "is not a folder of language folders (en, zh-CN, …)")
        }
        for language in languages.sorted() {
            let languageFolder = folder + "/" + language
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: languageFolder, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            let files = (try? manager.contentsOfDirectory(atPath: languageFolder)) ?? []
            for file in files.sorted() where file.hasSuffix(".yaml") {
                let path = languageFolder + "/" + file
                let name = String(file.dropLast(".yaml".count))
                let parts = try Self.readParts(path)
                if name == "labels" {
                    var languageLabels: [String: [String: String]] = [:]
                    for (group, value) in parts {
                        guard let mapping = value as? [String: Any] else { throw LoadError(file: path, reason: "\(group) must map codes to labels") }
                        languageLabels[group] = mapping.compactMapValues { $0 as? String }
                    }
                    labels[language] = languageLabels
                    continue
                }
                try register(name: name, language: language, parts: parts, file: path)
            }
        }
        guard !templates.isEmpty else { throw LoadError(file: folder, reason: "holds no templates") }
    }

    /// Templates given as text (tests): `[language: [name: [part: text]]]`.
    public init(texts: [String: [String: [String: String]]], labels: [String: [String: [String: String]]] = [:]) throws(LoadError) {
        for (language, named) in texts {
            for (name, parts) in named {
                try register(name: name, language: language, parts: parts, file: "\(language)/\(name)")
            }
        }
        self.labels = labels
    }

    private static func readParts(_ path: String) throws(LoadError) -> [String: Any] {
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard let parts = try Yams.load(yaml: text) as? [String: Any] else { throw LoadError(file: path, reason: "must be a mapping") }
            return parts
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError(file: path, reason: "cannot be read as YAML (\(error))")
        }
    }

    private mutating func register(name: String, language: String, parts: [String: Any], file: String) throws(LoadError) {
        let known: Set<String> = ["subject", "text", "html"]
        if let unknown = parts.keys.first(where: { !known.contains($0) }) {
            throw LoadError(file: file, reason: "\(unknown) is not a template part (subject, text, html)")
        }
        guard let subject = parts["subject"] as? String, let text = parts["text"] as? String else {
            throw LoadError(file: file, reason: "needs a subject and a text")
        }
        func compile(_ source: String, _ part: String, plain: Bool) throws(LoadError) -> MustacheTemplate {
            do {
                return try MustacheTemplate(string: (plain ? "{{% CONTENT_TYPE: TEXT}}" : "") + source)
            } catch {
                throw LoadError(file: file, reason: "\(part) does not parse (\(error))")
            }
        }
        templates["\(language)/\(name)"] = Compiled(
            subject: try compile(subject, "subject", plain: true),
            text: try compile(text, "text", plain: true),
            html: try (parts["html"] as? String).map { source throws(LoadError) in try compile(source, "html", plain: false) })
    }

    /// Whether `name` exists in `language`.
    public func has(_ name: String, language: String) -> Bool { templates["\(language)/\(name)"] != nil }

    /// The languages that have `name`.
    public func languages(of name: String) -> [String] {
        templates.keys.filter { $0.hasSuffix("/\(name)") }.map { String($0.dropLast(name.count + 1)) }.sorted()
    }

    /// A language's label for a code in a group (`category`, `severity`, `target`); the code itself if none.
    public func label(_ group: String, _ code: String, language: String) -> String {
        labels[language]?[group]?[code] ?? code
    }

    /// Renders `name` in `language` with `values`.
    /// - Returns: `nil` if the template does not exist in that language.
    public func render(_ name: String, language: String, values: [String: Any]) -> RenderedMessage? {
        guard let compiled = templates["\(language)/\(name)"] else { return nil }
        let subject = compiled.subject.render(values).trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "\n", with: " ")
        let text = compiled.text.render(values).trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
        let html = compiled.html.map { $0.render(values) }
        return RenderedMessage(subject: subject, text: text, html: html, language: language)
    }
}

/// A message ready to send: a subject (the e-mail subject, a robot card's title), the text, and HTML for e-mail.
public struct RenderedMessage: Sendable, Hashable {
    public var subject: String
    public var text: String
    public var html: String?
    public var language: String
}
