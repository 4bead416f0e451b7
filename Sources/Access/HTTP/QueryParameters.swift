/// A request's query string read as every Redress API reads it, so that a value PostgreSQL would refuse
/// is a 422 naming `query.<name>` in every service, not a 500 (or a 422 naming no field) from the database.
public struct QueryParameters: Sendable {
    /// Each parameter's first value (as Hummingbird's `get` reads it), the refused ones left out.
    public private(set) var values: [String: String] = [:]
    /// The refused parameters, in the query's order: a value holding a NUL (`%00`), which PostgreSQL
    /// cannot take in text (SQLSTATE 22021).
    public private(set) var errors: [Problem.FieldError] = []

    public init(_ query: some Sequence<(key: Substring, value: Substring)>) {
        var seen: Set<String> = []
        for (name, value) in query {
            let name = String(name)
            guard seen.insert(name).inserted else { continue }
            guard !value.unicodeScalars.contains("\0") else {
                errors.append(.init(field: "query.\(name)", rule: "must not contain NUL (%00)"))
                continue
            }
            values[name] = String(value)
        }
    }

    /// The value of `name`; `nil` when absent or refused (its error is in ``errors``).
    public subscript(name: String) -> String? { values[name] }

    /// ``values``, or every error as one 422.
    public func checked() throws(Problem) -> [String: String] {
        guard errors.isEmpty else { throw Problem.validation(errors) }
        return values
    }
}
