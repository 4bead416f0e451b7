/// A request's query string read as every Redress API reads it: a parameter the route does not read is a
/// 422 naming `query.<name>` (a misspelt filter, `hotelId` for `hotel`, would otherwise be ignored and the
/// answer unfiltered), and so is a value PostgreSQL would refuse, not a 500 (or a 422 naming no field).
public struct QueryParameters: Sendable {
    /// Each parameter's first value (as Hummingbird's `get` reads it), the refused ones left out.
    public private(set) var values: [String: String] = [:]
    /// The refused parameters, in the query's order: a name not in `known`, and a value holding a NUL
    /// (`%00`), which PostgreSQL cannot take in text (SQLSTATE 22021).
    public private(set) var errors: [Problem.FieldError] = []

    /// - Parameter known: the parameters the route reads.
    public init(_ query: some Sequence<(key: Substring, value: Substring)>, known: Set<String>) {
        var seen: Set<String> = []
        for (name, value) in query {
            let name = String(name)
            guard seen.insert(name).inserted else { continue }
            guard known.contains(name) else {
                let use = known.isEmpty ? "this route takes none" : "use " + known.sorted().joined(separator: ", ")
                errors.append(.init(field: "query.\(name)", rule: "unknown parameter; \(use)"))
                continue
            }
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
