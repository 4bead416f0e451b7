import Foundation

/// Kafka headers of every Redress event, per the CloudEvents Kafka protocol binding in
/// structured mode (the whole event is the message value).
public enum EventHeaders {
    /// The header name.
    public static let contentTypeName = "content-type"
    /// The value producers set.
    public static let contentType = "application/cloudevents+json; charset=utf-8"

    /// Accepts a missing header (plain `kcat -P` sends none) or `application/cloudevents+json` with
    /// any parameters; anything else (e.g. binary-mode events) fails with a dead-letter reason.
    public static func checkContentType(_ value: String?) throws(EventValidationError) {
        guard let value else { return }
        let mediaType = value.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        guard mediaType.trimmingCharacters(in: .whitespaces).lowercased() == "application/cloudevents+json" else {
            throw EventValidationError(
                code: .invalidValue, path: "",
                rule: "content-type header must be application/cloudevents+json (structured mode), found \"\(value)\"")
        }
    }
}
