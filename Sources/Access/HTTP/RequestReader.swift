import ComplaintEvents
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Reads what a request carries (body, parameters) and turns every defect into a ``Problem``: one
/// reader for every service's API, so a bad body is answered the same way everywhere.
public struct RequestReader: Sendable {
    public var maximumBodySize: Int

    public init(maximumBodySize: Int) {
        self.maximumBodySize = maximumBodySize
    }

    /// The JSON body as bytes: checks the media type (415) and the size (413). An absent body is
    /// `nil` when `optional`.
    public func jsonBody(_ request: Request, optional: Bool = false) async throws -> [UInt8]? {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maximumBodySize {
            throw Problem.tooLarge(limit: maximumBodySize)
        }
        let contentType = request.headers[.contentType]
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBodySize)
        } catch is NIOTooManyBytesError {
            // A chunked body (no Content-Length) over the limit.
            throw Problem.tooLarge(limit: maximumBodySize)
        }
        if buffer.readableBytes == 0 && optional && contentType == nil { return nil }
        guard let contentType, Self.isJSON(contentType) else {
            throw Problem.unsupportedMediaType(contentType)
        }
        guard buffer.readableBytes > 0 else {
            if optional { return nil }
            throw Problem.malformedJSON("the request body is empty; a JSON object is required")
        }
        return Array(buffer.readableBytesView)
    }

    /// Decodes and validates `bytes` with the contract's decoder: malformed JSON is a 400, anything
    /// else (missing, unknown or invalid fields) a 422 naming the field and the rule.
    public func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws(Problem) -> Value {
        do {
            return try EventCoding.decode(type, from: bytes)
        } catch {
            if error.code == .malformedJSON || error.code == .tooDeep {
                throw Problem.malformedJSON(error.description)
            }
            throw Problem.validation(field: error.path, rule: error.rule)
        }
    }

    public static func isJSON(_ contentType: String) -> Bool {
        // The media type is what comes before any parameters; "" and ";charset=utf-8" have none.
        let mediaType = contentType.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces).lowercased()
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    /// A UUID path parameter; anything else is a 404 (no such `resource`), as a random id would be.
    public func uuidParameter(_ name: String, _ context: some RequestContext, resource: String) throws(Problem) -> UUID {
        guard let text = context.parameters.get(name), let id = UUID(uuidString: text) else {
            throw Problem.notFound("no such \(resource)")
        }
        return id
    }
}
