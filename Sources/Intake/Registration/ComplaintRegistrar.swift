import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Crypto
import Foundation
import Logging
import PostgresNIO

/// What registering a submission did.
public struct RegistrationOutcome: Sendable, Hashable {
    public var complaintID: UUID
    /// `false` for a replay: the same source and external id (or Idempotency-Key) registered before.
    public var created: Bool
    /// `complaints.received.v1` for a new complaint; the caller's transaction writes it to the outbox.
    public var events: [OutgoingEvent] = []
}

/// An `Idempotency-Key` header, with the fingerprint of the request it came with.
public struct IdempotencyClaim: Sendable, Hashable {
    public var apiKeyID: String
    public var key: String
    public var requestSHA256: [UInt8]

    public init(apiKeyID: String, key: String, body: [UInt8]) {
        self.apiKeyID = apiKeyID
        self.key = key
        self.requestSHA256 = Array(SHA256.hash(data: body))
    }
}

extension IdempotencyClaim {
    /// What an earlier request with the key left beside it: the complaint a submission registered, or
    /// the outcome a staff action produced (JSON).
    struct Earlier {
        var complaintID: UUID?
        var actionOutcome: String?
    }

    /// Claims the key for this request (`nil`), or returns what the earlier request with it left. A
    /// concurrent request with the same key waits on the row until the first commits or rolls back.
    /// - Throws: ``IdempotencyKeyReused`` when the key came with another request.
    func take(on connection: PostgresConnection, logger: Logger) async throws -> Earlier? {
        let inserted = try await connection.query("""
            INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_sha256, created_at)
            VALUES (\(apiKeyID), \(key), \(Data(requestSHA256)), now())
            ON CONFLICT (api_key_id, idempotency_key) DO NOTHING
            RETURNING api_key_id
            """, logger: logger)
        for try await _ in inserted { return nil }
        let earlier = try await connection.query("""
            SELECT request_sha256, complaint_id, action_outcome FROM idempotency_keys
            WHERE api_key_id = \(apiKeyID) AND idempotency_key = \(key)
            """, logger: logger)
        for try await (digest, complaintID, outcome) in earlier.decode((Data, UUID?, String?).self) {
            guard Array(digest) == requestSHA256 else { throw IdempotencyKeyReused(key: key) }
            guard complaintID != nil || outcome != nil else { throw ConflictingRowVanished(table: "idempotency_keys") }
            return Earlier(complaintID: complaintID, actionOutcome: outcome)
        }
        throw ConflictingRowVanished(table: "idempotency_keys")
    }
}

/// A submission reuses the hotel + `source` + `externalId` of a complaint registered with other content:
/// HTTP 409 naming `externalId`; on the Kafka door a dead letter with ``reason``.
public struct ExternalIDReused: Error, Hashable, CustomStringConvertible {
    /// The complaint registered first under the triple.
    public var complaintID: UUID
    public var externalID: String
    public static let reason = "externalId already registered with different content"
    public var description: String { "\(Self.reason) (complaint \(complaintID.uuidString.lowercased()))" }
}

/// The Idempotency-Key was used before with a different request body.
public struct IdempotencyKeyReused: Error, Hashable {
    public var key: String
}

/// The one path both doors (HTTP and `complaints.submitted.v1`) take to register a complaint: the
/// complaint row, its first timeline entry and the `complaints.received.v1` event, in the caller's
/// transaction (intake's schema on the `search_path`). Registered once per hotel + `source` +
/// `externalId`, and per Idempotency-Key.
public struct ComplaintRegistrar: Sendable {
    public var guestKeyer: GuestKeyer
    public var topics: IntakeTopics

    public init(guestKeyer: GuestKeyer, topics: IntakeTopics = IntakeTopics()) {
        self.guestKeyer = guestKeyer
        self.topics = topics
    }

    /// Registers `submission` on `connection`, inside the caller's transaction.
    /// - Throws: ``IdempotencyKeyReused`` when `idempotency` names a key used for another request;
    ///   ``ExternalIDReused`` when the triple names a complaint registered with other content.
    public func register(
        _ submission: ComplaintSubmitted,
        actor: EventActor,
        idempotency: IdempotencyClaim? = nil,
        traceParent: String? = nil,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> RegistrationOutcome {
        if let idempotency, let earlier = try await claim(idempotency, on: connection, logger: logger) {
            return RegistrationOutcome(complaintID: earlier, created: false)
        }
        let now = Date()
        let id = UUID()
        let guestKey = guestKeyer.guestKey(for: submission.guest)
        let guestJSON = try jsonText(submission.guest)
        let reporterJSON = try jsonText(submission.reporter)
        let fingerprint = try Self.fingerprint(of: submission)
        let inserted = try await connection.query("""
            INSERT INTO complaints (id, hotel_id, source, external_id, channel, occurred_at, reported_at,
                registered_at, text, language, guest, guest_key, reporter, status, updated_at, submission_sha256)
            VALUES (\(id), \(submission.hotelID), \(submission.source), \(submission.externalID), \(submission.channel.rawValue),
                \(submission.occurredAt), \(submission.reportedAt), \(now), \(submission.text), \(submission.language),
                \(guestJSON)::jsonb, \(guestKey), \(reporterJSON)::jsonb, \(IntakeStatus.received.rawValue), \(now), \(fingerprint))
            ON CONFLICT (hotel_id, source, external_id) DO NOTHING
            RETURNING id
            """, logger: logger)
        var created = false
        for try await _ in inserted { created = true }
        let complaintID: UUID
        var events: [OutgoingEvent] = []
        if created {
            complaintID = id
            try await Timeline.append(
                complaintID: id, at: now, kind: "received", actor: actor, statusAfter: .received,
                details: ["channel": submission.channel.rawValue, "source": submission.source], on: connection, logger: logger)
            let received = ComplaintReceived(
                complaintID: id, hotelID: submission.hotelID, source: submission.source, externalID: submission.externalID,
                channel: submission.channel, occurredAt: submission.occurredAt, reportedAt: submission.reportedAt,
                registeredAt: now, text: submission.text, language: submission.language,
                guest: GuestSummary(
                    guestKey: guestKey, name: submission.guest.name, roomNumber: submission.guest.roomNumber,
                    reservationReference: submission.guest.reservationReference, loyaltyTier: submission.guest.loyaltyTier,
                    isVIP: submission.guest.isVIP ?? false, preferredLanguage: submission.guest.preferredLanguage,
                    preferredContact: submission.guest.preferredContact),
                reporter: submission.reporter)
            let envelope = EventEnvelope(
                source: IntakeTopics.eventSource, time: now, hotelID: submission.hotelID, traceParent: traceParent, data: received)
            events = [try OutgoingEvent(envelope, on: topics.received)]
        } else {
            let existing = try await connection.query("""
                SELECT id, submission_sha256 FROM complaints
                WHERE hotel_id = \(submission.hotelID) AND source = \(submission.source) AND external_id = \(submission.externalID)
                """, logger: logger)
            var found: (id: UUID, fingerprint: Data?)?
            for try await row in existing.decode((UUID, Data?).self) { found = row }
            guard let found else {
                throw ConflictingRowVanished(table: "complaints")
            }
            // A replay says the same thing; another complaint under the same id is refused, not answered
            // with the first one's id. A complaint registered before fingerprints were kept matches.
            if let stored = found.fingerprint, stored != fingerprint {
                throw ExternalIDReused(complaintID: found.id, externalID: submission.externalID)
            }
            complaintID = found.id
        }
        if let idempotency {
            try await connection.query("""
                UPDATE idempotency_keys SET complaint_id = \(complaintID)
                WHERE api_key_id = \(idempotency.apiKeyID) AND idempotency_key = \(idempotency.key)
                """, logger: logger)
        }
        return RegistrationOutcome(complaintID: complaintID, created: created, events: events)
    }

    /// The SHA-256 of `submission` in the contract's canonical JSON (members sorted, times to the
    /// millisecond): two bodies that differ only in spacing or member order have the same fingerprint.
    static func fingerprint(of submission: ComplaintSubmitted) throws -> Data {
        Data(SHA256.hash(data: try EventCoding.write(submission)))
    }

    /// Records `claim`, or returns the complaint an earlier request with the same key registered.
    private func claim(_ claim: IdempotencyClaim, on connection: PostgresConnection, logger: Logger) async throws -> UUID? {
        guard let earlier = try await claim.take(on: connection, logger: logger) else { return nil }
        guard let complaintID = earlier.complaintID else {
            // The key stood for a staff action, whose fingerprint cannot be a submission's body.
            throw IdempotencyKeyReused(key: claim.key)
        }
        return complaintID
    }
}

func jsonText<Value: Encodable>(_ value: Value) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
