import Foundation

/// The classifier's verdict on a registered complaint: category, severity, priority and flags,
/// with the evidence for it.
public struct ComplaintClassified: EventPayload {
    public static let eventType = "redress.complaint.classified.v1"

    public var complaintID: UUID
    public var classifiedAt: Date
    /// When intake registered the complaint (from `complaints.received.v1`), so that assignment and the
    /// SLA watcher count from registration. Optional in the contract; the classifier always sets it.
    public var registeredAt: Date?
    public var category: ComplaintCategory
    public var severity: Severity
    /// 1 (most urgent) to 4.
    public var priority: Int
    /// BCP 47 language detected in the complaint text; notifications to the guest use it.
    public var language: String
    /// −1 (very negative) to 1 (very positive).
    public var sentiment: Double
    public var flags: ClassificationFlags
    /// 0 to 1: how sure the classifier is of category and severity.
    public var confidence: Double
    public var explanation: ClassificationExplanation

    public var envelopeSubject: String? { complaintID.lowercasedString }

    public init(
        complaintID: UUID, classifiedAt: Date, category: ComplaintCategory, severity: Severity, priority: Int,
        language: String, sentiment: Double, flags: ClassificationFlags, confidence: Double,
        explanation: ClassificationExplanation, registeredAt: Date? = nil
    ) {
        self.complaintID = complaintID
        self.classifiedAt = classifiedAt
        self.registeredAt = registeredAt
        self.category = category
        self.severity = severity
        self.priority = priority
        self.language = language
        self.sentiment = sentiment
        self.flags = flags
        self.confidence = confidence
        self.explanation = explanation
    }

    enum CodingKeys: String, CodingKey {
        case complaintID = "complaintId", classifiedAt, registeredAt, category, severity, priority, language, sentiment, flags
        case confidence, explanation
    }
}

extension ComplaintClassified: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.priority: .integer(1...4),
        .language: .language,
        .sentiment: .number(-1...1),
        .confidence: .number(0...1),
    ])
}
