import ComplaintEvents
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An RFC 9457 problem: every error a Redress HTTP API answers is one, as
/// `application/problem+json`, naming the exact field and rule where there is one.
///
/// Throw it from a route: Hummingbird renders it (it is an `HTTPResponseError`), and
/// ``ProblemMiddleware`` turns every other error into one too.
public struct Problem: Error, Sendable, HTTPResponseError {
    /// One violated rule: `field` is a JSON path into the body (`guest.phone`), or `header.<Name>` /
    /// `query.<name>` / `path.<name>`.
    public struct FieldError: Sendable, Hashable, Codable {
        public var field: String
        public var rule: String

        public init(field: String, rule: String) {
            self.field = field
            self.rule = rule
        }
    }

    public var status: HTTPResponse.Status
    /// A stable URI per kind of problem (`https://redress.dev/problems/validation`).
    public var type: String
    public var title: String
    public var detail: String
    public var errors: [FieldError] = []
    /// Extension members (`currentStatus` on a 409, say).
    public var extensions: [String: String] = [:]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, type: String, title: String, detail: String, errors: [FieldError] = []) {
        self.status = status
        self.type = "https://redress.dev/problems/" + type
        self.title = title
        self.detail = detail
        self.errors = errors
    }

    /// The response, with `instance` (the request path) when given.
    public func response(instance: String? = nil) -> Response {
        let document = Document(problem: self, instance: instance)
        let bytes = (try? EventCoding.write(document)) ?? Array(#"{"status":500,"title":"Internal error"}"#.utf8)
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response(instance: request.uri.path)
    }

    /// The JSON body: the standard members, `errors`, then the extension members.
    struct Document: Encodable {
        let problem: Problem
        let instance: String?

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ string: String) { self.stringValue = string }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(problem.type, forKey: Key("type"))
            try container.encode(problem.title, forKey: Key("title"))
            try container.encode(Int(problem.status.code), forKey: Key("status"))
            try container.encode(problem.detail, forKey: Key("detail"))
            try container.encodeIfPresent(instance, forKey: Key("instance"))
            if !problem.errors.isEmpty { try container.encode(problem.errors, forKey: Key("errors")) }
            for (key, value) in problem.extensions { try container.encode(value, forKey: Key(key)) }
        }
    }

    // MARK: The problems every API answers

    public static func malformedJSON(_ detail: String) -> Problem {
        Problem(.badRequest, type: "malformed-json", title: "Malformed JSON", detail: detail)
    }

    public static func validation(_ errors: [FieldError]) -> Problem {
        Problem(.unprocessableContent, type: "validation", title: "Invalid request",
                detail: errors.map { $0.field.isEmpty ? $0.rule : "\($0.field): \($0.rule)" }.joined(separator: "; "), errors: errors)
    }

    public static func validation(field: String, rule: String) -> Problem {
        validation([FieldError(field: field, rule: rule)])
    }

    public static func unsupportedMediaType(_ given: String?) -> Problem {
        Problem(.unsupportedMediaType, type: "unsupported-media-type", title: "Unsupported media type",
                detail: "the body must be application/json, not \(given.map { "'\($0)'" } ?? "absent")",
                errors: [FieldError(field: "header.Content-Type", rule: "must be application/json")])
    }

    public static func tooLarge(limit: Int) -> Problem {
        Problem(.contentTooLarge, type: "too-large", title: "Request body too large",
                detail: "the body exceeds \(limit) bytes")
    }

    public static func unauthorized(_ detail: String) -> Problem {
        var problem = Problem(.unauthorized, type: "unauthorized", title: "Missing or invalid API key", detail: detail)
        problem.headers[.wwwAuthenticate] = #"Bearer realm="redress""#
        return problem
    }

    public static func forbidden(_ detail: String) -> Problem {
        Problem(.forbidden, type: "forbidden", title: "Not allowed", detail: detail)
    }

    public static func notFound(_ detail: String) -> Problem {
        Problem(.notFound, type: "not-found", title: "Not found", detail: detail)
    }

    public static func rateLimited(retryAfter: Int) -> Problem {
        var problem = Problem(.tooManyRequests, type: "rate-limited", title: "Too many requests",
                              detail: "this API key exceeded its request rate; retry after \(retryAfter) s")
        problem.headers[.retryAfter] = "\(retryAfter)"
        return problem
    }

    public static func unavailable(_ detail: String, retryAfter: Int = 5) -> Problem {
        var problem = Problem(.serviceUnavailable, type: "unavailable", title: "Temporarily unavailable", detail: detail)
        problem.headers[.retryAfter] = "\(retryAfter)"
        return problem
    }

    public static func notReady(_ detail: String) -> Problem {
        var problem = Problem(.serviceUnavailable, type: "not-ready", title: "Service not ready", detail: detail)
        problem.headers[.retryAfter] = "5"
        return problem
    }

    public static func internalError() -> Problem {
        Problem(.internalServerError, type: "internal", title: "Internal error", detail: "the request failed unexpectedly; it was logged")
    }
}
