/// Who reported a complaint, when it was not the guest directly (or to record that it was).
public struct Reporter: Codable, Hashable, Sendable {
    public var kind: ReporterKind
    /// A staff id or system name.
    public var id: String?
    public var name: String?

    public init(kind: ReporterKind, id: String? = nil, name: String? = nil) {
        self.kind = kind
        self.id = id
        self.name = name
    }
}

extension Reporter: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.id: .identifier, .name: .name])
}
