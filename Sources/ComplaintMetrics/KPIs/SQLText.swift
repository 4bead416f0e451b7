import PostgresNIO

/// A statement assembled from fragments whose values stay bound parameters (`$1`, `$2`, …): the KPI
/// queries share their scope and filter fragments without ever interpolating a value into SQL.
struct SQLText {
    private(set) var sql = ""
    private(set) var binds = PostgresBindings()

    init(_ text: String = "") {
        sql = text
    }

    /// Appends SQL text (never a value: bind those).
    mutating func add(_ text: String) {
        sql += text
    }

    /// Binds `value` and returns its placeholder.
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value?) throws -> String {
        try binds.append(value)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
