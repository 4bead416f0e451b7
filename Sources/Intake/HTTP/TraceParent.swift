import Access
import HTTPTypes
import Hummingbird

/// The W3C Trace Context `traceparent` of a request, parsed at the HTTP edge.
///
/// A header that is not a valid `traceparent` is ignored, as the Trace Context recommendation says (a
/// vendor receiving an invalid one starts a new trace): the events the request causes then carry none,
/// and the request itself goes on. Before, the header went into the event unchecked, the event failed
/// its envelope validation inside the transaction, and the request answered a bare 500.
///
/// Valid: `version-traceid-parentid-flags` in lower-case hex, 2-32-16-2 digits, neither id all zeros,
/// version not `ff`. Version `00` is exactly those 55 characters; a later version may add fields after
/// another `-`, and its first four fields are taken and passed on as version `00` (the version this
/// service speaks).
enum TraceParent {
    /// The request's `traceparent` as the events may carry it, or `nil`.
    static func of(_ request: Request) -> String? {
        request.headers[.traceParent].flatMap(parse)
    }

    /// `text` as a version-00 `traceparent`, or `nil` when it is not a valid one.
    static func parse(_ text: String) -> String? {
        let characters = Array(text.utf8)
        guard characters.count >= 55 else { return nil }
        func isLowerHex(_ range: Range<Int>) -> Bool {
            characters[range].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        func isAllZeros(_ range: Range<Int>) -> Bool { characters[range].allSatisfy { $0 == 0x30 } }
        let dash = UInt8(ascii: "-")
        guard isLowerHex(0..<2), characters[2] == dash, isLowerHex(3..<35), characters[35] == dash,
              isLowerHex(36..<52), characters[52] == dash, isLowerHex(53..<55)
        else { return nil }
        let version = String(decoding: characters[0..<2], as: UTF8.self)
        guard version != "ff", !isAllZeros(3..<35), !isAllZeros(36..<52) else { return nil }
        if version == "00" {
            guard characters.count == 55 else { return nil }
        } else if characters.count > 55 {
            // A later version's own fields follow after a '-'.
            guard characters[55] == dash else { return nil }
        }
        return "00" + String(decoding: characters[2..<55], as: UTF8.self)
    }
}
