import EmbeddedDefault
import Foundation

/// A real SMTP server (Debian's python3-aiosmtpd) on a loopback port, writing what it accepts to a folder;
/// optionally with STARTTLS (a throwaway certificate made with openssl) and AUTH.
public final class SMTPSink: Sendable {
    /// The sink's script, found from this source file.
    public static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tools/smtp_sink.py").path

    public let port: Int
    public let folder: URL
    /// The certificate to trust (with TLS).
    public let certificate: String?
    private let process: ChildProcess

    /// One message as the sink received it: the raw text, the envelope and how it was sent.
    public struct Message: Sendable {
        public var raw: String
        public var envelopeTo: [String]
        public var tls: Bool
        public var authenticated: Bool

        /// Header value (unfolded), first occurrence.
        public func header(_ name: String) -> String? {
            let head = raw.components(separatedBy: "\r\n\r\n").first ?? raw
            let unfolded = head.replacingOccurrences(of: "\r\n ", with: " ")
            for line in unfolded.components(separatedBy: "\r\n") where line.lowercased().hasPrefix(name.lowercased() + ":") {
                return String(line.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces)
            }
            return nil
        }

        /// The decoded body of the MIME part of `type` (`text/plain`, `text/html`).
        public func part(_ type: String) -> String? {
            let sections = raw.components(separatedBy: "Content-Type: \(type); charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
            guard sections.count == 2 else { return nil }
            let encoded = sections[1].components(separatedBy: "\r\n\r\n").first?.components(separatedBy: "\r\n--").first ?? ""
            return Data(base64Encoded: encoded.replacingOccurrences(of: "\r\n", with: "")).flatMap { String(data: $0, encoding: .utf8) }
        }

        /// An RFC 2047 header decoded.
        public func decodedHeader(_ name: String) -> String? {
            guard let value = header(name) else { return nil }
            return value.split(separator: " ").map { word -> String in
                guard word.hasPrefix("=?UTF-8?B?"), word.hasSuffix("?=") else { return String(word) }
                let inner = word.dropFirst("=?UTF-8?B?".count).dropLast(2)
                return Data(base64Encoded: String(inner)).flatMap { String(data: $0, encoding: .utf8) } ?? String(word)
            }.joined()
        }
    }

    public init(tls: Bool = false, user: String? = nil, password: String? = nil) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-sink-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var arguments: [String] = []
        var certificate: String?
        if tls {
            let cert = folder.appendingPathComponent("cert.pem").path, key = folder.appendingPathComponent("key.pem").path
            let openssl = try await ProgramRun.run(
                "/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                                     "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            guard openssl.succeeded else { throw SinkDidNotStart(output: "openssl: \(openssl.standardError)") }
            arguments += ["--cert", cert, "--key", key]
            certificate = cert
        }
        if let user, let password { arguments += ["--user", user, "--password", password] }
        let mail = folder.appendingPathComponent("mail")
        try FileManager.default.createDirectory(at: mail, withIntermediateDirectories: true)
        let port = try unusedLoopbackPort()
        process = try await ChildProcess(
            URL(fileURLWithPath: "/usr/bin/python3"), arguments: [SMTPSink.script, String(port), mail.path] + arguments)
        self.port = port
        self.folder = mail
        self.certificate = certificate
        let process = self.process
        // Python's start may take seconds on a loaded machine; a sink that exited is not waited for.
        _ = await eventually { process.output.contains("READY") || !process.isRunning }
        guard process.output.contains("READY") else {
            let output = process.output
            process.stop()
            throw SinkDidNotStart(output: output)
        }
    }

    /// The sink's process exited or never said it was listening.
    public struct SinkDidNotStart: Error, CustomStringConvertible {
        var output: String
        public var description: String { "the SMTP sink did not start: \(output)" }
    }

    /// The messages accepted so far, in order.
    public var messages: [Message] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
        return files.compactMap { file in
            let base = folder.appendingPathComponent(String(file.dropLast(4)))
            guard let raw = try? String(contentsOf: base.appendingPathExtension("eml"), encoding: .utf8),
                  let meta = try? JSONSerialization.jsonObject(with: Data(contentsOf: base.appendingPathExtension("json"))) as? [String: Any]
            else { return nil }
            return Message(
                raw: raw, envelopeTo: meta["to"] as? [String] ?? [], tls: meta["tls"] as? Bool ?? false,
                authenticated: meta["authenticated"] as? Bool ?? false)
        }
    }

    public func waitFor(_ count: Int, timeout: Duration = .seconds(30)) async -> [Message] {
        _ = await eventually(timeout: timeout) { self.messages.count >= count }
        return messages
    }

    /// Stops the server (it no longer accepts connections when this returns) and removes its folder.
    public func stop() {
        process.stop()
        try? FileManager.default.removeItem(at: folder.deletingLastPathComponent())
    }
}
