import ComplaintEvents
import Hummingbird
import NIOCore

/// Hummingbird's response encoding for Redress: a route returns a `Codable` value (or
/// `EditedResponse` around one) and this writes it with the contract's writer — members sorted,
/// RFC 3339 timestamps, lower-case UUIDs — so an API spells ids and times as the events do.
public struct JSONResponseEncoder: ResponseEncoder {
    public init() {}

    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        let bytes = try EventCoding.write(value)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
