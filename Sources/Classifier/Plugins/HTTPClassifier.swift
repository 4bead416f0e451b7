import AsyncHTTPClient
import ComplaintEvents
import ComplaintPipeline
import Crypto
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1

/// Asks a hotel group's own classifier over HTTP, so it can plug in its model without
/// recompiling Redress. Any failure — timeout, connection refused, non-2xx status, malformed or
/// oversized answer — makes it abstain, and the built-in plugins decide alone.
///
/// Contract: `POST <url>` with `{"channel","complaintId","hotelId","language","text"}` (keys sorted); answer
/// `200` with `{"category": "<category>", "severity": "<severity>"?, "confidence": 0…1?, "version": "…"?}`.
///
/// Its severity may raise the engine's, never lower it (``VerdictCombiner``). An answer without
/// `confidence` counts as ``missingConfidence`` (a coin flip), not as certain.
///
/// It calls through ``AsyncHTTPClient/HTTPClient/outbound``: redirects are not followed (a 307 or 308
/// would send the complaint's text on to another host), a redirect is an error status; a refused
/// connection is tried again within the call's timeout (the notifier's client fails it at once, which
/// would fail every waiting call and feed the circuit breaker). With a ``token`` every call carries
/// `Authorization: Bearer <token>`.
///
/// A call about a complaint carries `Idempotency-Key: <complaintId>:<body hash>` (``idempotencyKey(for:body:scope:)``):
/// the stage asks the model again when its transaction fails after the call (a retry prepares afresh) or
/// after a crash or a redelivery before the verdict committed, and the key ties those calls together; a
/// different question about the complaint (another body) gets another key, and a replay its own scope.
/// Each call is counted in `classifier_external_calls_total{outcome}` (``Outcome``).
///
/// After failures in a row its ``breaker`` skips the model for a while (outcome `skipped`): it abstains
/// at once, as when a call fails, instead of costing every complaint the whole timeout.
public struct HTTPClassifier: ClassifierPlugin {
    public let name = "http"
    public var isExternal: Bool { true }
    /// The confidence of an answer that gives none: low, so a bare `{"category": …}` does not weigh as
    /// much as a model that says it is sure.
    public static let missingConfidence = 0.5
    public var weight: Double
    public var url: String
    public var timeout: Duration
    public var client: HTTPClient
    /// Sent as a bearer token (`CLASSIFIER_EXTERNAL_TOKEN`).
    public var token: String?
    public var logger: Logger
    /// Shared by every copy of the plugin: `outside_call_circuit_open{service="classifier",target="external_model"}`.
    public var breaker: CircuitBreaker
    /// Put before every `Idempotency-Key` (`<scope>:<complaintId>:<body hash>`): none live, `replay-<schema>`
    /// in `redress replay classifier --with-external`, so that a replay neither collides with the live calls
    /// nor is answered from them.
    public var keyScope: String?

    /// How a call ended, the `outcome` of `classifier_external_calls_total`.
    enum Outcome: String {
        /// A usable answer.
        case answered
        /// A status outside 2xx (a redirect included) or an answer over the size limit.
        case errorStatus = "error_status"
        /// `409`: a call with the same `Idempotency-Key` is still in progress. The model is up, so it does
        /// not count towards the breaker.
        case inProgress = "in_progress"
        /// A 2xx answer that is not the contract's JSON.
        case invalidAnswer = "invalid_answer"
        /// No answer: refused, timed out, the connection lost.
        case failed
        /// Not asked: its circuit breaker is open after failures in a row.
        case skipped
    }

    /// Largest answer read (bytes).
    static let maximumResponseSize = 64 * 1024

    public init(
        url: String, timeout: Duration = .milliseconds(300), weight: Double = 3, token: String? = nil, client: HTTPClient = .outbound,
        keyScope: String? = nil, breaker: CircuitBreaker? = nil, logger: Logger
    ) {
        self.keyScope = keyScope
        self.url = url
        self.timeout = timeout
        self.weight = weight
        self.token = token
        self.client = client
        self.logger = logger
        self.breaker = breaker ?? CircuitBreaker(service: "classifier", target: "external_model", logger: logger)
    }

    /// Sorted keys: the body's bytes, and so the key's hash, must be the same for the same question (the
    /// encoder's own order varies from one call to the next).
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    struct Request: Encodable {
        var complaintId: String?
        var hotelId: String?
        var channel: String?
        var text: String
        var language: String
    }

    struct Response: Decodable {
        var category: ComplaintCategory
        var severity: Severity?
        var confidence: Double?
        var version: String?
    }

    public func classify(_ request: ClassificationRequest) async -> PluginVerdict? {
        await consult(request).verdict
    }

    /// The call's verdict; while the breaker is open, none and the reason ("external model skipped
    /// after 5 failures in a row (retrying at 14:03:10 UTC)") for the explanation.
    public func consult(_ request: ClassificationRequest) async -> PluginAnswer {
        let (verdict, outcome, skipped) = await attempt(request)
        Counter(label: "classifier_external_calls_total", dimensions: [("outcome", outcome.rawValue)]).increment()
        return PluginAnswer(verdict: verdict, abstention: skipped.map { "external model skipped \($0)" })
    }

    /// One call unless the breaker is open, and how it ended.
    func call(_ request: ClassificationRequest) async -> (PluginVerdict?, Outcome) {
        let (verdict, outcome, _) = await attempt(request)
        return (verdict, outcome)
    }

    /// ``call(_:)`` with the breaker's refusal when it skipped the call.
    func attempt(_ request: ClassificationRequest) async -> (PluginVerdict?, Outcome, CircuitBreaker.Skipped?) {
        // A 409 (the same question still in progress) tells nothing of whether the model works: not counted.
        switch await breaker.callJudging({ await exchange(request) }, judged: { $0.1 == .inProgress ? nil : $0.1 == .answered }) {
        case .success(let answer): (answer.0, answer.1, nil)
        case .failure(let skipped): (nil, .skipped, skipped)
        }
    }

    /// The `Idempotency-Key` of a call: `[<scope>:]<complaintId>:<hash>`, the complaint's id (lowercase, as
    /// `complaintId` in the body) and the first 16 bytes of the SHA-256 of the exact body sent, in hex; none
    /// for a text without a complaint (an evaluation). The complaint's id stays the same on a retry of the
    /// transaction, a redelivery and after a crash-restart, and also if its `complaints.received.v1` event
    /// came again under another event id, which the event id would not. The hash keeps the key with the
    /// question: the same body on each of those repeats, but a body that changed (a deploy that detects the
    /// language otherwise) is a new question, which a server keeping keys would refuse (422) under the old
    /// key. The scope separates a replay's calls from the live ones.
    static func idempotencyKey(for request: ClassificationRequest, body: Data, scope: String?) -> String? {
        guard let complaintID = request.complaintID else { return nil }
        let digest = SHA256.hash(data: body).prefix(16).map { String(format: "%02x", $0) }.joined()
        return (scope.map { $0 + ":" } ?? "") + complaintID.uuidString.lowercased() + ":" + digest
    }

    /// One call and how it ended.
    func exchange(_ request: ClassificationRequest) async -> (PluginVerdict?, Outcome) {
        var answered = false
        do {
            var httpRequest = HTTPClientRequest(url: url)
            httpRequest.method = .POST
            httpRequest.headers.add(name: "Content-Type", value: "application/json")
            if let token { httpRequest.headers.add(name: "Authorization", value: "Bearer \(token)") }
            let body = try Self.encoder.encode(Request(
                complaintId: request.complaintID?.uuidString.lowercased(), hotelId: request.hotelID, channel: request.channel,
                text: request.text, language: request.language))
            if let key = Self.idempotencyKey(for: request, body: body, scope: keyScope) {
                httpRequest.headers.add(name: "Idempotency-Key", value: key)
            }
            httpRequest.body = .bytes(ByteBuffer(bytes: body))
            // The whole exchange, body included, within the timeout: a model that sends its headers and
            // then writes slowly must not hold every complaint for the client's read timeout.
            let response = try await client.boundedExchange(
                httpRequest, timeout: timeout, maximumBodySize: Self.maximumResponseSize, logger: logger)
            if response.status == 409 {
                logger.info("external classifier answered 409 (a call with this Idempotency-Key is in progress); using the built-in result")
                return (nil, .inProgress)
            }
            guard (200..<300).contains(response.status), !response.isTruncated else {
                logger.warning("external classifier answered \(response.status)\(response.isTruncated ? " (too long)" : ""); using the built-in result")
                return (nil, .errorStatus)
            }
            answered = true
            let answer = try JSONDecoder().decode(Response.self, from: Data(response.body.readableBytesView))
            let confidence = min(1, max(0, answer.confidence ?? Self.missingConfidence))
            var categories = [Double](repeating: (1 - confidence) / Double(ComplaintCategory.allCases.count - 1), count: ComplaintCategory.allCases.count)
            categories[ComplaintCategory.ordinal[answer.category]!] = confidence
            var severities: [Double]?
            if let severity = answer.severity {
                var distribution = [Double](repeating: (1 - confidence) / 2, count: Severity.allCases.count)
                distribution[Severity.ordinal[severity]!] = confidence
                severities = distribution
            }
            let version = String((answer.version ?? "external").prefix(24))
            var verdict = PluginVerdict(plugin: name, version: version, categories: categories, severities: severities)
            verdict.isExternal = true
            verdict.confidenceMissing = answer.confidence == nil
            let printableVersion = String((answer.version ?? "").unicodeScalars.filter { ("!"..."~").contains($0) }.prefix(24).map(Character.init))
            verdict.externalView = "external model\(printableVersion.isEmpty ? "" : " " + printableVersion): \(answer.category.rawValue), "
                + (answer.severity.map(\.rawValue) ?? "no severity")
                + (answer.confidence.map { ", confidence \(ClassificationEngine.rounded(min(1, max(0, $0))))" } ?? ", no confidence given")
            return (verdict, .answered)
        } catch {
            logger.warning("external classifier failed (\(String(describing: type(of: error)))); using the built-in result")
            return (nil, answered ? .invalidAnswer : .failed)
        }
    }
}
