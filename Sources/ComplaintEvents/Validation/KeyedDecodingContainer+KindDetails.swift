extension KeyedDecodingContainer {
    /// Fails if a detail member other than `allowed` is present: kind-specific details must match `kind`.
    func rejectDetails(_ keys: [Key], except allowed: Key?, kind: String) throws {
        for key in keys where key.stringValue != allowed?.stringValue && contains(key) {
            throw EventValidationError(
                code: .unknownProperty, codingPath: codingPath + [key], rule: "not allowed when kind is \(kind)")
        }
    }
}
