import Foundation

/// A message a consumer could not process, on `complaints.deadletter.v1`: the original key,
/// value and headers (base64) with the reason and where it came from, so nothing is lost and an
/// operator can fix and replay it.
///
/// Large originals are cut to stay under Kafka's message limit: values to 512 KiB
/// (`originalValueSize` keeps the full size), keys to 4 KiB, header values to 1 KiB, at most 64
/// headers, reasons to 2000 characters; NUL in a reason or header key becomes U+FFFD, so that the
/// dead letter itself always validates.
public struct DeadLetterRecord: EventPayload {
    public static let eventType = "redress.deadletter.v1"
    /// The envelope `hotelid` of a dead letter whose original named no valid hotel.
    public static let unknownHotelID = "unknown"
    static let maximumValueSize = 524_288
    public static let maximumKeySize = 4096
    public static let maximumHeaderValueSize = 1024
    public static let maximumHeaders = 64
    /// The longest reason kept, in Unicode scalars.
    public static let maximumReasonLength = 2000
    public static let maximumHeaderKeyLength = 255

    /// A Kafka header of the original message.
    public struct Header: Codable, Hashable, Sendable {
        public var key: String
        /// Nil for a header without a value.
        public var value: Data?

        public init(key: String, value: Data?) {
            self.key = key
            self.value = value
        }
    }

    /// Why processing failed; an ``EventValidationError`` description for bad input.
    public var reason: String
    public var sourceTopic: String
    public var partition: Int
    public var offset: Int64
    /// The service that gave up, e.g. `redress-classifier`.
    public var service: String
    /// Attempts made before giving up (1 for input that can never succeed).
    public var attempts: Int
    public var failedAt: Date
    /// Nil when the original had no key.
    public var originalKey: Data?
    /// Nil for a tombstone (no value); possibly cut, see `originalValueSize`.
    public var originalValue: Data?
    /// Size of the original value in bytes, before any cut.
    public var originalValueSize: Int
    public var originalHeaders: [Header]

    /// Whether `originalValue` holds less than the whole original value.
    public var isValueTruncated: Bool { (originalValue?.count ?? 0) < originalValueSize }

    /// Records a failed message, cutting what exceeds the limits above.
    public init(
        reason: String, sourceTopic: String, partition: Int, offset: Int64, service: String, attempts: Int,
        failedAt: Date, originalKey: [UInt8]?, originalValue: [UInt8]?, originalHeaders: [(key: String, value: [UInt8]?)]
    ) {
        self.reason = reason.storable(maximumScalars: Self.maximumReasonLength)
        self.sourceTopic = sourceTopic
        self.partition = partition
        self.offset = offset
        self.service = service
        self.attempts = attempts
        self.failedAt = failedAt
        self.originalKey = originalKey.map { Data($0.prefix(Self.maximumKeySize)) }
        self.originalValue = originalValue.map { Data($0.prefix(Self.maximumValueSize)) }
        self.originalValueSize = originalValue?.count ?? 0
        self.originalHeaders = originalHeaders.prefix(Self.maximumHeaders).map { header in
            Header(
                key: header.key.storable(maximumScalars: Self.maximumHeaderKeyLength),
                value: header.value.map { Data($0.prefix(Self.maximumHeaderValueSize)) })
        }
    }

    /// The id of the dead letter's event, derived from the service that gave up and where the original
    /// was read: a message dead-lettered again (its offset was not stored before a restart) is the same
    /// event twice, which readers of `complaints.deadletter.v1` can deduplicate.
    public var eventID: UUID {
        UUID(nameBasedOn: "redress.deadletter:\(service):\(sourceTopic):\(partition):\(offset)")
    }
}

extension DeadLetterRecord: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.reason: .text(maxLength: maximumReasonLength),
        .sourceTopic: .text(maxLength: 249, .topicName),
        .partition: .integer(0...Int64(Int32.max)),
        .offset: .integer(0...Int64.max),
        .service: .text(maxLength: 64, .serviceName),
        .attempts: .integer(1...1000),
        .originalKey: .text(length: 0...base64Length(maximumKeySize), pattern: .base64),
        .originalValue: .text(length: 0...base64Length(maximumValueSize), pattern: .base64),
        .originalValueSize: .integer(0...Int64(Int32.max)),
        .originalHeaders: .list(count: 0...maximumHeaders, element: nil),
    ])

    /// Characters of padded base64 for `bytes` bytes.
    static func base64Length(_ bytes: Int) -> Int { (bytes + 2) / 3 * 4 }
}

extension DeadLetterRecord.Header: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.key: .text(length: 0...DeadLetterRecord.maximumHeaderKeyLength, pattern: nil),
        .value: .text(length: 0...DeadLetterRecord.base64Length(DeadLetterRecord.maximumHeaderValueSize), pattern: .base64),
    ])
}
