import ComplaintStore
import PostgresNIO
import Testing

@Suite("A statement as the WITH part of another")
struct PostgresQueryWithPartTests {
    @Test("the part's binds come first, the added values after them, numbered for the rest")
    func numbering() throws {
        let id = 42, hotel = "SHA-PD01"
        let part: PostgresQuery = "INSERT INTO t (id, hotel) VALUES (\(id), \(hotel)) RETURNING id"
        let query = try part.withPart("stored", binding: ["live", "{}"]) { "SELECT pg_notify(\($0[0]), \($0[1])) FROM stored" }
        #expect(query.sql == """
            WITH stored AS (
            INSERT INTO t (id, hotel) VALUES ($1, $2) RETURNING id
            )
            SELECT pg_notify($3, $4) FROM stored
            """)
        #expect(query.binds.count == 4)
        let continued = try part.withPart("stored", binding: [7]) { ", more AS (SELECT \($0[0])) SELECT 1" }
        #expect(continued.sql.hasSuffix("\n), more AS (SELECT $3) SELECT 1"))
    }
}
