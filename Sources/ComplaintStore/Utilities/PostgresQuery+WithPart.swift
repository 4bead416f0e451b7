import PostgresNIO

extension PostgresQuery {
    /// One statement instead of two round trips: this query (a data-modifying statement) becomes the
    /// `WITH` part `name`, which PostgreSQL always runs, and `rest` follows it. `values` are bound after
    /// this query's own (encoding one can throw); `rest` gets their placeholders (`$7`, `$8`, …) in order. `rest` may continue the
    /// `WITH` list (`", more AS (…) SELECT …"`) or start the main statement (`"SELECT …"`).
    public func withPart(
        _ name: String, binding values: [any PostgresEncodable], then rest: (_ placeholders: [String]) -> String
    ) throws -> PostgresQuery {
        var binds = self.binds
        var placeholders: [String] = []
        for value in values {
            try binds.append(value, context: .default)
            placeholders.append("$\(binds.count)")
        }
        let rest = rest(placeholders)
        let separator = rest.hasPrefix(",") ? "" : "\n"
        return PostgresQuery(unsafeSQL: "WITH \(name) AS (\n\(sql)\n)\(separator)\(rest)", binds: binds)
    }
}
