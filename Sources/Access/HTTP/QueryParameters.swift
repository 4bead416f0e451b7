/// A request's query string read as every Redress API reads it: a parameter the route does not read is a
/// 422 naming `query.<name>` (a misspelt filter, `hotelId` for `hotel`, would otherwise be ignored and the
/// answer unfiltered), and so is a value PostgreSQL would refuse, not a 500 (or a 422 naming no field).
/// A parameter given more than once counts once with its first value, unless the route refuses repeats
/// (`refusingRepeats`: the metrics API, where `hotel=A&hotel=B` answered for A alone as if that were the question).
public struct QueryParameters: Sendable {
    /// Each parameter's first value (as Hummingbird's `get` reads it), the refused ones left out.
    public private(set) var values: [String: String] = [:]
    /// The refused parameters, in the query's order: a name not in `known`, and a value holding a NUL
    /// (`%00`), which PostgreSQL cannot take in text (SQLSTATE 22021), and with `refusingRepeats` a known
    /// name given more than once (named once, however many copies).
    public private(set) var errors: [Problem.FieldError] = []

    /// - Parameters:
    ///   - known: the parameters the route reads.
    ///   - refusingRepeats: a known parameter given more than once is an error (it is left out of ``values``)
    ///     rather than read with its first value.
    public init(_ query: some Sequence<(key: Substring, value: Substring)>, known: Set<String>, refusingRepeats: Bool = false) {
        var seen: Set<String> = [], repeated: Set<String> = []
        for (name, value) in query {
            let name = String(name)
            guard seen.insert(name).inserted else {
                if refusingRepeats, known.contains(name), repeated.insert(name).inserted {
                    values[name] = nil
                    errors.removeAll { $0.field == "query.\(name)" }
                    errors.append(.init(field: "query.\(name)", rule: "given more than once; give it once"))
                }
                continue
            }
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
