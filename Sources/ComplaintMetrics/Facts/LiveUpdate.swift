import ComplaintEvents
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// What the dashboard is told as it happens: a complaint registered, assigned, acted on, warned about,
/// breached or escalated. Sent with PostgreSQL `NOTIFY` inside the handler's transaction, so it reaches
/// the listeners of every replica only once the fact is committed (``LiveFeed`` fans it out).
public struct LiveUpdate: Codable, Sendable, Hashable {
    /// `received`, `classified`, `assigned`, `updated`, `sla` or `alert`.
    public var topic: String
    public var hotelId: String
    public var complaintId: String?
    /// The event's kind (`acknowledged`, `breached`, …), assignment reason or alert kind.
    public var kind: String?
    public var severity: String?
    public var category: String?
    /// What an alert is about: a category, a currency or an SLA target.
    public var subject: String?
    public var status: String?
    /// The escalation level of an escalation.
    public var level: Int?
    public var at: Date

    public init(
        topic: String, hotelId: String, complaintId: UUID?, kind: String? = nil, severity: String? = nil, category: String? = nil,
        subject: String? = nil, status: String? = nil, level: Int? = nil, at: Date
    ) {
        self.topic = topic
        self.hotelId = hotelId
        self.complaintId = complaintId?.lowercasedString
        self.kind = kind
        self.severity = severity
        self.category = category
        self.subject = subject
        self.status = status
        self.level = level
        self.at = at
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// The JSON the dashboard's stream carries.
    public var json: String { String(decoding: (try? Self.encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self) }

    /// Queues the update on `channel`; PostgreSQL delivers it when the transaction commits.
    func notify(on channel: String, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_notify(\(channel), \(json))", logger: logger)
    }

    /// Runs `fact` (a data-modifying statement that returns nothing) and queues the update on `channel`
    /// in the same round trip: the statement becomes a `WITH` part, which PostgreSQL always runs.
    func notify(on channel: String, with fact: PostgresQuery, connection: PostgresConnection, logger: Logger) async throws {
        let query = try fact.withPart("fact", binding: [channel, json]) { "SELECT pg_notify(\($0[0]), \($0[1]))" }
        try await connection.query(query, logger: logger)
    }
}
