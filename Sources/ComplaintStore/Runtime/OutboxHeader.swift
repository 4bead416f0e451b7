import NIOCore

/// One Kafka header of an outbox row.
public struct OutboxHeader: Sendable, Hashable {
    /// The header name.
    public var key: String
    /// The header value; `nil` for a header without a value.
    public var value: ByteBuffer?

    /// Creates a header with raw bytes.
    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }

    /// Creates a header with a UTF-8 text value.
    public init(key: String, value: String) {
        self.init(key: key, value: ByteBuffer(string: value))
    }
}
