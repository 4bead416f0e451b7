import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import Hummingbird
import NIOCore
import PostgresNIO
@testable import Notifier
import Synchronization

/// Paths and shipped files the notifier's tests use.
enum NotifierFixtures {
    /// The repository root (this file is Tests/NotifierTests/Support/…).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let templatesFolder = root + "/services/notifier/templates"
    static let rulesFile = root + "/services/notifier/rules.yaml"

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

    /// A new `updated.resolved` event (fresh event id) for `complaint` of `hotel`, from the English example.
    static func resolved(_ complaint: UUID, hotel: String = "LON-KX02") throws -> EventEnvelope<ComplaintUpdated> {
        try example("complaint-updated.v1.resolved.en.json", on: Topics.updated, \.complaintID, complaint: complaint, hotel: hotel)
    }

    /// A new `sla.followup_due` clock event (fresh event id) for `complaint` of `hotel`, from the example.
    static func followUpDue(_ complaint: UUID, hotel: String = "LON-KX02") throws -> EventEnvelope<ComplaintSLAEvent> {
        try example("complaint-sla.v1.followup-due.json", on: Topics.sla, \.complaintID, complaint: complaint, hotel: hotel)
    }

    /// The example event `name` with a fresh event id, for `complaint` (at `complaintID`) of `hotel`.
    static func example<Payload: EventPayload>(
        _ name: String, on topic: Topic<Payload>, _ complaintID: WritableKeyPath<Payload, UUID>, complaint: UUID, hotel: String
    ) throws -> EventEnvelope<Payload> {
        var event = try EventFixtures.example(name, on: topic)
        event.id = UUID()
        event.hotelID = hotel
        event.data[keyPath: complaintID] = complaint
        return event
    }

    /// The recorded intents, oldest first.
    static func intents(_ store: StageStore) async throws -> [NotificationIntent] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try await store.read { connection, logger in
            try await connection.query("SELECT payload::text FROM work_queue ORDER BY id", logger: logger).collect()
                .map { try decoder.decode(NotificationIntent.self, from: Data(try $0.decode(String.self).utf8)) }
        }
    }
}

/// A local HTTP receiver standing in for webhook consumers, robot platforms and SMS gateways: it records
/// every request and answers as the test scripts it (a status with `Retry-After`, a JSON error code, or
/// no answer at all).
final class RecordingReceiver: Sendable {
    struct Received: Sendable {
        var method: String
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
        /// 200 and the first bytes at once, the rest after `delay`.
        case trickle(delay: Duration)
        /// A redirect (301, 307 …) to `location`.
        case redirect(Int, to: String)
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
        // GET too: a redirected POST may come back as one (and must be seen, to show that none does).
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.rawName] = field.value }
            self.received.withLock {
                $0.append(Received(method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "", headers: headers, body: String(buffer: body)))
            }
            // Unscripted: success as each platform says it (the Chinese robots answer a JSON error code 0).
            let path = request.uri.path
            let success = ["wecom", "dingtalk", "feishu"].contains { path.contains($0) } ? #"{"errcode":0,"code":0,"errmsg":"ok"}"# : "ok"
            let answer = self.script.withLock { $0.isEmpty ? Answer.status(200, body: success) : $0.removeFirst() }
            switch answer {
            case .hang:
                try? await Task.sleep(for: .seconds(60))
                return Response(status: .ok)
            case .trickle(let delay):
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "o"))
                    try await Task.sleep(for: delay)
                    try await writer.write(ByteBuffer(string: "k"))
                    try await writer.finish(nil)
                })
            case .status(let code, let text, let retryAfter):
                var fields = HTTPFields()
                if let retryAfter { fields[.retryAfter] = retryAfter }
                fields[.contentType] = text.hasPrefix("{") ? "application/json" : "text/plain"
                return Response(status: .init(code: code), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
            case .redirect(let code, let location):
                return Response(status: .init(code: code), headers: [.location: location])
            }
        }
        router.post("**", use: handler)
        router.get("**", use: handler)
        return router
    }
}
