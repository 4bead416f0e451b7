import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
@testable import Notifier
import Synchronization

/// Paths and shipped files the notifier's tests use.
enum NotifierFixtures {
    /// The repository root (this file is Tests/NotifierTests/Support/…).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let templatesFolder = root + "/services/notifier/templates"
    static let rulesFile = root + "/services/notifier/rules.yaml"
    static let smtpSink = root + "/Tests/NotifierTests/Support/smtp_sink.py"

    static func templates() throws -> TemplateCatalog { try TemplateCatalog(folder: templatesFolder) }

    /// Rules from YAML text (a test's own file).
    static func rules(_ yaml: String, environment: [String: String] = [:]) throws -> NotificationRules {
        try RulesFile.load(try ConfigurationFile(text: yaml, path: "rules.yaml"), environment: environment)
    }

    static func intent(
        template: String = "complaint_assigned_staff", language: String = "en", channel: DeliveryChannel = .webhook,
        recipient: NotificationRecipient = NotificationRecipient(kind: .staff, staffID: "SHA-EN-001", role: .staff),
        endpoint: String? = "hook", trigger: String = "assigned.initial", hotel: String = "SHA-PD01"
    ) -> NotificationIntent {
        var intent = NotificationIntent(
            notificationID: UUID(), complaintID: UUID(), hotelID: hotel, causeEventID: UUID(), causeTime: Date(), trigger: trigger,
            rule: "test-rule", template: template, language: language, channel: channel, recipient: recipient, endpoint: endpoint,
            facts: MessageFacts(
                category: .maintenance, severity: .serious, department: "engineering", assigneeName: "Chen Jie", assigneeRole: .staff,
                escalationLevel: 0))
        intent.notificationID = NotificationIntent.notificationID(forKey: intent.idempotencyKey)
        return intent
    }

    static func message(_ intent: NotificationIntent, to destination: OutgoingMessage.Destination, link: String? = "https://redress.example/c/1") -> OutgoingMessage {
        OutgoingMessage(
            intent: intent, channel: intent.channel,
            rendered: RenderedMessage(subject: "Serious complaint 1208", text: "The air conditioning in 1208 is broken.\n", html: "<p>AC</p>", language: intent.language),
            destination: destination, link: link)
    }
}

/// A local HTTP receiver standing in for webhook consumers, robot platforms and SMS gateways: it records
/// every request and answers as the test scripts it (a status with `Retry-After`, a JSON error code, or
/// no answer at all).
final class RecordingReceiver: Sendable {
    struct Received: Sendable {
        var path: String
        var query: String
        var headers: [String: String]
        var body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    }

    enum Answer: Sendable {
        case status(Int, body: String = "ok", retryAfter: String? = nil)
        /// Never answers (until the client gives up).
        case hang
    }

    private let received = Mutex<[Received]>([])
    private let script = Mutex<[Answer]>([])
    private let waiters = Mutex<[(count: Int, continuation: CheckedContinuation<Void, Never>)]>([])

    /// Answers the next requests with `answers`, in order; then 200 with the platform's success body.
    func script(_ answers: Answer...) { script.withLock { $0 += answers } }

    var requests: [Received] { received.withLock { $0 } }

    /// Waits until `count` requests arrived (or `timeout`).
    func waitFor(_ count: Int, timeout: Duration = .seconds(30)) async -> [Received] {
        _ = await eventually(timeout: timeout) { self.requests.count >= count }
        return requests
    }

    var router: Router<BasicRequestContext> {
        let router = Router()
        router.post("**") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.rawName] = field.value }
            self.received.withLock {
                $0.append(Received(path: request.uri.path, query: request.uri.query ?? "", headers: headers, body: String(buffer: body)))
            }
            // Unscripted: success as each platform says it (the Chinese robots answer a JSON error code 0).
            let path = request.uri.path
            let success = ["wecom", "dingtalk", "feishu"].contains { path.contains($0) } ? #"{"errcode":0,"code":0,"errmsg":"ok"}"# : "ok"
            let answer = self.script.withLock { $0.isEmpty ? Answer.status(200, body: success) : $0.removeFirst() }
            switch answer {
            case .hang:
                try? await Task.sleep(for: .seconds(60))
                return Response(status: .ok)
            case .status(let code, let text, let retryAfter):
                var fields = HTTPFields()
                if let retryAfter { fields[.retryAfter] = retryAfter }
                fields[.contentType] = text.hasPrefix("{") ? "application/json" : "text/plain"
                return Response(status: .init(code: code), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        return router
    }
}

/// A real SMTP server (Debian's python3-aiosmtpd) on a loopback port, writing what it accepts to a folder;
/// optionally with STARTTLS (a throwaway certificate made with openssl) and AUTH.
final class SMTPSink: Sendable {
    let port: Int
    let folder: URL
    /// The certificate to trust (with TLS).
    let certificate: String?
    private let process: ChildProcess

    struct Message: Sendable {
        var raw: String
        var envelopeTo: [String]
        var tls: Bool
        var authenticated: Bool

        /// Header value (unfolded), first occurrence.
        func header(_ name: String) -> String? {
            let head = raw.components(separatedBy: "\r\n\r\n").first ?? raw
            let unfolded = head.replacingOccurrences(of: "\r\n ", with: " ")
            for line in unfolded.components(separatedBy: "\r\n") where line.lowercased().hasPrefix(name.lowercased() + ":") {
                return String(line.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces)
            }
            return nil
        }

        /// The decoded body of the MIME part of `type` (`text/plain`, `text/html`).
        func part(_ type: String) -> String? {
            let sections = raw.components(separatedBy: "Content-Type: \(type); charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
            guard sections.count == 2 else { return nil }
            let encoded = sections[1].components(separatedBy: "\r\n\r\n").first?.components(separatedBy: "\r\n--").first ?? ""
            return Data(base64Encoded: encoded.replacingOccurrences(of: "\r\n", with: "")).flatMap { String(data: $0, encoding: .utf8) }
        }

        /// An RFC 2047 header decoded.
        func decodedHeader(_ name: String) -> String? {
            guard let value = header(name) else { return nil }
            return value.split(separator: " ").map { word -> String in
                guard word.hasPrefix("=?UTF-8?B?"), word.hasSuffix("?=") else { return String(word) }
                let inner = word.dropFirst("=?UTF-8?B?".count).dropLast(2)
                return Data(base64Encoded: String(inner)).flatMap { String(data: $0, encoding: .utf8) } ?? String(word)
            }.joined()
        }
    }

    init(tls: Bool = false, user: String? = nil, password: String? = nil) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-sink-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var arguments: [String] = []
        var certificate: String?
        if tls {
            let cert = folder.appendingPathComponent("cert.pem").path, key = folder.appendingPathComponent("key.pem").path
            let openssl = Process()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            openssl.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                                 "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
            openssl.standardError = FileHandle.nullDevice
            try openssl.run()
            openssl.waitUntilExit()
            arguments += ["--cert", cert, "--key", key]
            certificate = cert
        }
        if let user, let password { arguments += ["--user", user, "--password", password] }
        let mail = folder.appendingPathComponent("mail")
        try FileManager.default.createDirectory(at: mail, withIntermediateDirectories: true)
        let port = try unusedLoopbackPort()
        process = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/python3"), arguments: [NotifierFixtures.smtpSink, String(port), mail.path] + arguments)
        self.port = port
        self.folder = mail
        self.certificate = certificate
        let process = self.process
        guard await eventually(timeout: .seconds(20), { process.output.contains("READY") }) else {
            let output = process.output
            process.stop()
            throw SinkDidNotStart(output: output)
        }
    }

    struct SinkDidNotStart: Error, CustomStringConvertible {
        var output: String
        var description: String { "the SMTP sink did not start: \(output)" }
    }

    /// The messages accepted so far, in order.
    var messages: [Message] {
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

    func waitFor(_ count: Int, timeout: Duration = .seconds(30)) async -> [Message] {
        _ = await eventually(timeout: timeout) { self.messages.count >= count }
        return messages
    }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(at: folder.deletingLastPathComponent())
    }
}
