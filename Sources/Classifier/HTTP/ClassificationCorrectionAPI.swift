import Access
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import PostgresNIO

/// `PUT /v1/complaints/{id}/classification`: a manager (or admin) of the complaint's hotel sets its
/// category and severity, with a reason. Documented in `services/classifier/openapi.yaml`.
///
/// In one transaction on the classifier's schema, holding the complaint's verdict row: the verdict is
/// replaced (``ClassificationStore/save(_:complaintID:hotelID:classifiedAt:registeredAt:on:logger:)``
/// then finds the row taken, so no automatic verdict ever replaces it), the correction is kept in
/// `classification_corrections`, and a new `complaints.classified.v1` verdict goes to the outbox with a
/// later `classifiedAt`, `needsHumanReview: false` and an explanation marked `classifier` `staff`, whose
/// `correction` names the staff id, the reason and the verdict replaced (the summary says it too).
///
/// A repeat of the request with the same `Idempotency-Key` answers the first outcome with
/// `Idempotent-Replayed: true`; the key with another request is a 422 on `header.Idempotency-Key`.
/// Without a key, a request asking for the verdict the complaint already has from staff (same
/// category, severity and reason) changes nothing and publishes nothing.
public struct ClassificationCorrectionAPI: Sendable {
    public var store: StageStore
    public var database: DatabaseGuard
    public var authentication: AuthenticationMiddleware
    public var outputTopic: Topic<ComplaintClassified>
    /// The classifier's rules: which of a verdict's matched rules are safety cues (``SeverityPolicy/safetyCues(in:rules:)``).
    public var rules: RuleSet
    /// The envelope `source` of published events (the stage's own).
    public var source = "/redress/classifier"
    public var clock: @Sendable () -> Date = { Date() }
    let reader = RequestReader(maximumBodySize: 16 * 1024)

    /// Longest `reason`, in Unicode scalars (it goes into the explanation's 500-character summary).
    public static let maximumReasonLength = 300
    /// The `explanation.classifier` of a verdict set by staff (its rule is `staff_correction`).
    public static let staffClassifier = "staff"

    /// Whether a classified event's `data` (JSON) is a staff correction: not the classifier's own
    /// work, so no replay of the classifier reproduces it (`redress replay classifier` sets it aside).
    public static func isStaffCorrection(data json: String) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let explanation = object["explanation"] as? [String: Any]
        else { return false }
        return explanation["classifier"] as? String == staffClassifier
    }

    public init(
        store: StageStore, database: DatabaseGuard, authentication: AuthenticationMiddleware, rules: RuleSet,
        outputTopic: Topic<ComplaintClassified> = Topics.classified
    ) {
        self.rules = rules
        self.store = store
        self.database = database
        self.authentication = authentication
        self.outputTopic = outputTopic
    }

    /// The request body.
    struct Body: Codable, Sendable {
        var category: ComplaintCategory
        var severity: Severity
        var reason: String
    }

    public func addRoutes(to router: Router<RedressRequestContext>) {
        let complaints = router.group("v1/complaints").add(middleware: authentication)
        complaints.put(":id/classification") { request, context in
            let caller = try context.caller(atLeast: .manager, for: request)
            let id = try reader.uuidParameter("id", context, resource: "complaint")
            let key = try Self.idempotencyKey(request)
            let bytes = try await reader.jsonBody(request)!
            let body = try reader.decode(Body.self, from: bytes)
            try Self.check(reason: body.reason)
            let (verdict, outcome) = try await correct(id, body: body, caller: caller, idempotencyKey: key, request: bytes, path: request.uri.path)
            Counter(label: "classifier_corrections_total", dimensions: [("outcome", outcome.rawValue)]).increment()
            var headers: HTTPFields = [.contentType: "application/json"]
            if outcome == .replayed { headers[.idempotentReplayed] = "true" }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try EventCoding.write(verdict))))
        }
    }

    enum Outcome: String { case applied, unchanged, replayed }

    /// Applies the correction; returns the verdict in force afterwards.
    func correct(
        _ complaintID: UUID, body: Body, caller: Caller, idempotencyKey: String?, request: [UInt8], path: String
    ) async throws -> (ComplaintClassified, Outcome) {
        let fingerprint = Array(SHA256.hash(data: Array("PUT \(path.lowercased())\n".utf8) + request))
        let now = clock()
        let store = self.store
        let topic = outputTopic
        let source = self.source
        let rules = self.rules
        return try await database.run {
            try await store.write { connection, logger in
                // The verdict row, locked: corrections of one complaint (and a repeat of one request) take turns.
                let rows = try await connection.query(
                    """
                    SELECT hotel_id, category, severity, language, sentiment, flags::text, classified_at, registered_at, set_by_staff,
                           explanation::text, (SELECT reason FROM classification_corrections c WHERE c.complaint_id = classifications.complaint_id
                            ORDER BY classified_at DESC LIMIT 1)
                    FROM classifications WHERE complaint_id = \(complaintID) FOR UPDATE
                    """, logger: logger
                ).collect()
                // Another hotel's complaint is answered exactly like a missing one.
                // A verdict purged after CLASSIFIER_RETENTION_DAYS (``ClassifierRetention``) is missing too.
                guard let row = rows.first else { throw Self.notClassified(complaintID) }
                let (hotelID, category, severity, language, sentiment, flagsJSON, classifiedAt, registeredAt, setByStaff, explanationJSON, lastReason) = try row.decode(
                    (String, String, String, String, Double, String, Date, Date?, String?, String, String?).self)
                guard caller.covers(hotel: hotelID) else { throw Self.notClassified(complaintID) }
                if let idempotencyKey,
                   let earlier = try await Self.earlier(idempotencyKey, keyID: caller.keyID, fingerprint: fingerprint, on: connection, logger: logger) {
                    return ((earlier, .replayed), [])
                }
                var flags = try JSONDecoder().decode(ClassificationFlags.self, from: Data(flagsJSON.utf8))
                let previousCategory = ComplaintCategory(rawValue: category) ?? .other
                let previousSeverity = Severity(rawValue: severity) ?? .moderate
                if idempotencyKey == nil, setByStaff != nil, previousCategory == body.category, previousSeverity == body.severity,
                   lastReason == body.reason, let current = try await Self.current(complaintID, on: connection, logger: logger) {
                    return ((current, .unchanged), [])
                }
                flags.needsHumanReview = false
                // The safety flag follows the corrected category as the classifier derives it: the category
                // is safety_security or a safety cue matched. The cues are the stored explanation's matched
                // rules (a staff verdict carries the ones it was corrected from), whatever the category was.
                let previousRules = try JSONDecoder().decode(ClassificationExplanation.self, from: Data(explanationJSON.utf8)).matchedRules
                let safetyCues = SeverityPolicy.safetyCues(in: previousRules, rules: rules)
                flags.involvesSafety = SeverityPolicy.involvesSafety(category: body.category, safetyCue: !safetyCues.isEmpty)
                // Later than the verdict it replaces, at the events' millisecond precision, so that
                // assignment and the SLA watcher (which ignore a verdict no newer than theirs) take it.
                let later = max(now, classifiedAt.addingTimeInterval(0.001))
                let at = Date(timeIntervalSince1970: (later.timeIntervalSince1970 * 1000).rounded(.up) / 1000)
                let summary = "set by staff \(caller.name): \(body.category.rawValue), \(body.severity.rawValue); reason: \(body.reason)"
                    + "; the classifier said \(category), \(severity)"
                let explanation = ClassificationExplanation(
                    classifier: Self.staffClassifier, version: Self.staffClassifier, matchedRules: ["staff_correction"] + safetyCues, matchedTerms: [],
                    summary: String(String.UnicodeScalarView(summary.unicodeScalars.prefix(500))),
                    correction: ClassificationCorrection(
                        by: caller.name, reason: body.reason, previousCategory: previousCategory, previousSeverity: previousSeverity))
                let verdict = ComplaintClassified(
                    complaintID: complaintID, classifiedAt: at, category: body.category, severity: body.severity,
                    priority: PriorityPolicy.priority(severity: body.severity, flags: flags, sentiment: sentiment), language: language,
                    sentiment: sentiment, flags: flags, confidence: 1, explanation: explanation, registeredAt: registeredAt)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let flagsText = String(decoding: try encoder.encode(flags), as: UTF8.self)
                let explanationText = String(decoding: try encoder.encode(explanation), as: UTF8.self)
                // The correction (and its key) before the verdict: a request with the same key on another
                // complaint, uncommitted when the check above ran, is waited for here and then answered as a
                // request after it would be, with nothing changed (the key's UNIQUE made this insert a 23505, a 500).
                let verdictText = String(decoding: try EventCoding.write(verdict), as: UTF8.self)
                let inserted = try await connection.query(
                    """
                    INSERT INTO classification_corrections
                        (correction_id, complaint_id, hotel_id, staff_id, api_key_id, category, severity, reason, previous_category,
                         previous_severity, classified_at, idempotency_key, request_sha256, verdict)
                    VALUES (\(UUID()), \(complaintID), \(hotelID), \(caller.name), \(caller.keyID), \(body.category.rawValue),
                            \(body.severity.rawValue), \(body.reason), \(category), \(severity), \(at), \(idempotencyKey),
                            \(Data(fingerprint)), \(verdictText)::jsonb)
                    ON CONFLICT (api_key_id, idempotency_key) DO NOTHING
                    RETURNING correction_id
                    """, logger: logger
                ).collect()
                if inserted.isEmpty, let idempotencyKey {
                    guard let earlier = try await Self.earlier(
                        idempotencyKey, keyID: caller.keyID, fingerprint: fingerprint, on: connection, logger: logger)
                    else { throw ConflictingRowVanished(table: "classification_corrections") }
                    return ((earlier, .replayed), [])
                }
                try await connection.query(
                    """
                    UPDATE classifications
                    SET category = \(body.category.rawValue), severity = \(body.severity.rawValue), priority = \(Int16(verdict.priority)),
                        flags = \(flagsText)::jsonb, confidence = 1, explanation = \(explanationText)::jsonb, classifier = 'staff',
                        version = 'staff', classified_at = \(at), set_by_staff = \(caller.name)
                    WHERE complaint_id = \(complaintID)
                    """, logger: logger)
                logger.info("classification corrected by staff", metadata: [
                    "complaint.id": "\(complaintID.lowercasedString)", "classification.category": "\(body.category.rawValue)",
                    "classification.severity": "\(body.severity.rawValue)",
                ])
                let envelope = EventEnvelope(source: source, time: at, hotelID: hotelID, data: verdict)
                return ((verdict, .applied), [try OutgoingEvent(envelope, on: topic)])
            }
        }
    }

    /// The answer to a repeat of the request that used `idempotencyKey` under this API key: the verdict it
    /// published; `nil` when the key is unused. The stored verdict is read leniently (``EventCoding/decodeStored(_:from:)``):
    /// one a newer build stored with a member this one does not know still answers the repeat after a rollback.
    /// - Throws: a 422 on `header.Idempotency-Key` when the key came with another request.
    static func earlier(
        _ idempotencyKey: String, keyID: String, fingerprint: [UInt8], on connection: PostgresConnection, logger: Logger
    ) async throws -> ComplaintClassified? {
        let rows = try await connection.query(
            """
            SELECT request_sha256, verdict::text FROM classification_corrections
            WHERE api_key_id = \(keyID) AND idempotency_key = \(idempotencyKey)
            """, logger: logger
        ).collect()
        guard let row = rows.first else { return nil }
        let (hash, verdict) = try row.decode((Data, String).self)
        guard Array(hash) == fingerprint else {
            throw Problem.validation(field: "header.Idempotency-Key", rule: "'\(idempotencyKey)' was already used for a different request")
        }
        return try EventCoding.decodeStored(ComplaintClassified.self, from: Array(verdict.utf8))
    }

    /// The verdict a complaint's last staff correction published, read leniently as in ``earlier(_:keyID:fingerprint:on:logger:)``.
    static func current(_ complaintID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> ComplaintClassified? {
        let rows = try await connection.query(
            """
            SELECT verdict::text FROM classification_corrections WHERE complaint_id = \(complaintID)
            ORDER BY classified_at DESC LIMIT 1
            """, logger: logger
        ).collect()
        guard let text = try rows.first?.decode(String.self) else { return nil }
        return try EventCoding.decodeStored(ComplaintClassified.self, from: Array(text.utf8))
    }

    /// The 404 of a complaint with no verdict here: not classified yet, another hotel's, or its verdict
    /// purged after the retention.
    static func notClassified(_ complaintID: UUID) -> Problem {
        Problem.notFound(
            "no classified complaint \(complaintID.lowercasedString): not classified yet, or its verdict was purged after CLASSIFIER_RETENTION_DAYS")
    }

    static func check(reason: String) throws(Problem) {
        if reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw Problem.validation(field: "reason", rule: "must not be empty: say why the verdict is wrong")
        }
        if reason.unicodeScalars.count > maximumReasonLength {
            throw Problem.validation(field: "reason", rule: "longer than \(maximumReasonLength) characters")
        }
        if reason.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }) {
            throw Problem.validation(field: "reason", rule: "must not contain control characters")
        }
    }

    /// The request's `Idempotency-Key`, checked: 1 to 255 visible ASCII characters (as intake's).
    static func idempotencyKey(_ request: Request) throws(Problem) -> String? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ ("!"..."~").contains($0) }) else {
            throw Problem.validation(field: "header.Idempotency-Key", rule: "must be 1 to 255 visible ASCII characters")
        }
        return key
    }
}
