import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An RFC 9457 problem: every error intake answers is one, as `application/problem+json`, naming
/// the exact field and rule where there is one.
public struct Problem: Error, Sendable {
    /// One violated rule: `field` is a JSON path into the body (`guest.phone`), or `header.<Name>` /
    /// `query.<name>` / `path.<name>`.
    public struct FieldError: Sendable, Hashable, Codable {
        public var field: String
        public var rule: String
    }

    public var status: HTTPResponse.Status
    /// A stable URI per kind of problem (`https://redress.dev/problems/validation`).
    public var type: String
    public var title: String
    public var detail: String
    public var errors: [FieldError] = []
    /// Extension members (`currentStatus` on a 409, say).
    public var extensions: [String: any Sendable] = [:]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, type: String, title: String, detail: String, errors: [FieldError] = []) {
        self.status = status
        self.type = "https://redress.dev/problems/" + type
        self.title = title
        self.detail = detail
        self.errors = errors
    }

    public func response(instance: String? = nil) -> Response {
        var object: [String: Any] = ["type": type, "title": title, "status": status.code, "detail": detail]
        if let instance { object["instance"] = instance }
        if !errors.isEmpty { object["errors"] = errors.map { ["field": $0.field, "rule": $0.rule] } }
        for (key, value) in extensions { object[key] = value }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: The problems intake answers

    static func malformedJSON(_ detail: String) -> Problem {
        Problem(.badRequest, type: "malformed-json", title: "Malformed JSON", detail: detail)
    }

    static func validation(_ errors: [FieldError]) -> Problem {
        Problem(.unprocessableContent, type: "validation", title: "Invalid request",
                detail: errors.map { $0.field.isEmpty ? $0.rule : "\($0.field): \($0.rule)" }.joined(separator: "; "), errors: errors)
    }

    static func validation(field: String, rule: String) -> Problem {
        validation([FieldError(field: field, rule: rule)])
    }

    static func unsupportedMediaType(_ given: String?) -> Problem {
        Problem(.unsupportedMediaType, type: "unsupported-media-type", title: "Unsupported media type",
                detail: "the body must be application/json, not \(given.map { "'\($0)'" } ?? "absent")",
                errors: [FieldError(field: "header.Content-Type", rule: "must be application/json")])
    }

    static func tooLarge(limit: Int) -> Problem {
        Problem(.contentTooLarge, type: "too-large", title: "Request body too large",
                detail: "the body exceeds \(limit) bytes")
    }

    static func unauthorized(_ detail: String) -> Problem {
        var problem = Problem(.unauthorized, type: "unauthorized", title: "Missing or invalid API key", detail: detail)
        problem.headers[.wwwAuthenticate] = #"Bearer realm="redress""#
        return problem
    }

    static func forbidden(_ detail: String) -> Problem {
        Problem(.forbidden, type: "forbidden", title: "Not allowed", detail: detail)
    }

    static func notFound(_ detail: String) -> Problem {
        Problem(.notFound, type: "not-found", title: "Not found", detail: detail)
    }

    static func rateLimited(retryAfter: Int) -> Problem {
        var problem = Problem(.tooManyRequests, type: "rate-limited", title: "Too many requests",
                              detail: "this API key exceeded its request rate; retry after \(retryAfter) s")
        problem.headers[.retryAfter] = "\(retryAfter)"
        return problem
    }

    static func unavailable(_ detail: String, retryAfter: Int = 5) -> Problem {
        var problem = Problem(.serviceUnavailable, type: "unavailable", title: "Temporarily unavailable", detail: detail)
        problem.headers[.retryAfter] = "\(retryAfter)"
        return problem
    }
}
