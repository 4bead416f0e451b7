import Foundation

/// Rows one relay leased with ``Outbox/claim(limit:lease:on:logger:)``: the records to publish and the token that
/// proves the lease, so a relay whose lease ran out cannot release a row another relay holds now.
public struct OutboxClaim: Sendable, Hashable {
    /// Identifies this claim's leases.
    public let token: UUID
    /// The claimed rows, in id order, at most one per aggregate key.
    public let records: [OutboxRecord]

    public init(token: UUID, records: [OutboxRecord]) {
        self.token = token
        self.records = records
    }
}
