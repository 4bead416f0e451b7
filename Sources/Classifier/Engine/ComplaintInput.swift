import ComplaintEvents
import Foundation

/// What the classifier needs of a registered complaint (a ``ComplaintReceived`` or a line of labeled data).
public struct ComplaintInput: Sendable {
    public var complaintID: UUID?
    public var hotelID: String?
    public var channel: String?
    public var text: String
    /// The source's own language tag, used when the text has no letters to detect from.
    public var languageHint: String?
    public var isVIP: Bool

    public init(complaintID: UUID? = nil, hotelID: String? = nil, channel: String? = nil, text: String, languageHint: String? = nil, isVIP: Bool = false) {
        self.complaintID = complaintID
        self.hotelID = hotelID
        self.channel = channel
        self.text = text
        self.languageHint = languageHint
        self.isVIP = isVIP
    }

    public init(_ received: ComplaintReceived) {
        self.init(
            complaintID: received.complaintID, hotelID: received.hotelID, channel: received.channel.rawValue, text: received.text,
            languageHint: received.language, isVIP: received.guest.isVIP)
    }
}

/// The classifier's verdict on one complaint: everything of ``ComplaintClassified`` but the id and time.
public struct Classification: Sendable, Hashable {
    public var category: ComplaintCategory
    public var severity: Severity
    public var priority: Int
    public var language: String
    public var sentiment: Double
    public var flags: ClassificationFlags
    public var confidence: Double
    public var explanation: ClassificationExplanation
}
