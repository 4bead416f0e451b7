/// A note added to a complaint's timeline.
public struct ComplaintNote: Codable, Hashable, Sendable {
    public var text: String
    public var visibility: NoteVisibility

    public init(text: String, visibility: NoteVisibility) {
        self.text = text
        self.visibility = visibility
    }
}

extension ComplaintNote: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.text: .text(maxLength: 4000)])
}
