import ComplaintEvents

/// The topics intake reads and writes; tests give each run its own names.
public struct IntakeTopics: Sendable {
    /// The CloudEvents `source` of intake's events.
    public static let eventSource = "/redress/intake"

    public var submitted = Topics.submitted
    public var received = Topics.received
    public var updated = Topics.updated
    public var classified = Topics.classified
    public var assigned = Topics.assigned
    public var deadLetter = Topics.deadLetter

    public init() {}

    /// Every topic with `prefix` before its name (`t1.complaints.received.v1`).
    public func prefixed(_ prefix: String) -> IntakeTopics {
        var topics = self
        topics.submitted = submitted.renamed(prefix + submitted.name)
        topics.received = received.renamed(prefix + received.name)
        topics.updated = updated.renamed(prefix + updated.name)
        topics.classified = classified.renamed(prefix + classified.name)
        topics.assigned = assigned.renamed(prefix + assigned.name)
        topics.deadLetter = deadLetter.renamed(prefix + deadLetter.name)
        return topics
    }
}
