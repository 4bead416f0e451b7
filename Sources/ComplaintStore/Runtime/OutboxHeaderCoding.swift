import Foundation
import NIOCore

/// The JSON shape of outbox headers in the `headers jsonb` column: `[{"key": …, "value": "<utf-8 text>"}]`, with
/// `"base64"` instead of `"value"` for bytes that are not UTF-8 and neither for a header without a value. Text
/// stays readable for operators inspecting the table; nothing is lost.
enum OutboxHeaderCoding {
    private struct Stored: Codable {
        var key: String
        var value: String?
        var base64: String?
    }

    static func encode(_ headers: [OutboxHeader]) throws -> String {
        let stored = headers.map { header -> Stored in
            guard var value = header.value else { return Stored(key: header.key) }
            let bytes = value.readBytes(length: value.readableBytes) ?? []
            if let text = String(validating: bytes, as: UTF8.self) {
                return Stored(key: header.key, value: text)
            }
            return Stored(key: header.key, base64: Data(bytes).base64EncodedString())
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(stored), as: UTF8.self)
    }

    static func decode(_ json: String) throws -> [OutboxHeader] {
        let stored = try JSONDecoder().decode([Stored].self, from: Data(json.utf8))
        return stored.map { header in
            if let text = header.value {
                return OutboxHeader(key: header.key, value: ByteBuffer(string: text))
            }
            if let base64 = header.base64, let data = Data(base64Encoded: base64) {
                return OutboxHeader(key: header.key, value: ByteBuffer(bytes: data))
            }
            return OutboxHeader(key: header.key, value: nil as ByteBuffer?)
        }
    }
}
