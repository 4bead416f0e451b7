import Foundation
import Testing

@testable import ComplaintEvents

/// The hand-written matchers behave exactly like their regular expressions (as JSON Schema
/// validators run them: whole Unicode scalars, `^…$` anchors).
@Suite struct TextPatternTests {
    static let patterns: [(String, TextPattern)] = [
        ("identifier", .identifier), ("code", .code), ("serviceName", .serviceName), ("reference64", .reference(maxLength: 64)),
        ("language", .language), ("traceParent", .traceParent), ("guestKey", .guestKey), ("currency", .currency),
        ("phone", .phone), ("email", .email), ("uriReference", .uriReference), ("topicName", .topicName),
        ("attributeName", .attributeName), ("base64", .base64), ("uuid", .uuid), ("lowercaseUUID", .lowercaseUUID),
    ]

    /// Valid-looking strings from the generator, each also broken by one random edit.
    static func samples(for name: String, _ generator: inout EventGenerator) -> [String] {
        let valid: String =
            switch name {
            case "identifier": generator.identifier()
            case "code": generator.code()
            case "serviceName": generator.serviceName()
            case "reference64": generator.reference(64)
            case "language": generator.language()
            case "traceParent": generator.traceParent()
            case "guestKey": generator.hexString(64)
            case "currency": "CNY"
            case "phone": generator.phone()
            case "email": generator.email()
            case "uriReference": generator.source()
            case "topicName": "complaints.received.v1"
            case "attributeName": "traceparent"
            case "base64": Data(generator.bytes(12)).base64EncodedString()
            default: generator.uuid().uuidString.lowercased()
            }
        let noise: [Character] = ["-", ".", "_", "@", " ", "\n", "A", "z", "0", "9", "=", "+", "/", "中", "é", "0", "f", "F", "~"]
        var edited = Array(valid)
        switch generator.int(0...3) {
        case 0 where !edited.isEmpty: edited.remove(at: generator.int(0...(edited.count - 1)))
        case 1: edited.insert(generator.pick(noise), at: generator.int(0...edited.count))
        case 2 where !edited.isEmpty: edited[generator.int(0...(edited.count - 1))] = generator.pick(noise)
        default: edited += [generator.pick(noise)]
        }
        return [valid, String(edited), valid.uppercased()]
    }

    @Test(arguments: patterns.map(\.0))
    func matcherAgreesWithItsRegularExpression(_ name: String) throws {
        let pattern = try #require(Self.patterns.first { $0.0 == name }?.1)
        let regex = try Regex(pattern.regex).matchingSemantics(.unicodeScalar)
        var generator = EventGenerator(seed: UInt64(name.utf8.count) &* 7919)
        var accepted = 0
        for _ in 0..<400 {
            for sample in Self.samples(for: name, &generator) {
                let expected = (try? regex.firstMatch(in: sample)) != nil
                #expect(pattern.matches(sample) == expected, "\(name): \(sample.debugDescription)")
                accepted += expected ? 1 : 0
            }
        }
        #expect(accepted > 100, "the samples should include many valid strings")
    }

    @Test func contentTypeHeader() throws {
        try EventHeaders.checkContentType(nil)
        try EventHeaders.checkContentType(EventHeaders.contentType)
        try EventHeaders.checkContentType("Application/CloudEvents+JSON")
        #expect(throws: EventValidationError.self) { try EventHeaders.checkContentType("application/json") }
    }
}

/// The one wire format for instants.
@Suite struct EventTimestampTests {
    @Test(arguments: [
        ("2025-03-12T16:15:00.250+08:00", "2025-03-12T08:15:00.250Z"),
        ("2025-03-12T08:15:00Z", "2025-03-12T08:15:00.000Z"),
        ("2024-02-29T23:59:59.999999999-05:30", "2024-03-01T05:29:59.999Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
        ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500Z"),
        ("2000-01-01T00:00:00.1+00:00", "2000-01-01T00:00:00.100Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
    ])
    func parsesAndNormalisesToUTCMilliseconds(_ input: String, _ expected: String) throws {
        let date = try #require(EventTimestamp.date(from: input))
        #expect(EventTimestamp.string(from: date) == expected)
        #expect(EventTimestamp.date(from: expected) == date)
    }

    @Test(arguments: [
        "2025-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-03-12T24:00:00Z", "2025-03-12T23:60:00Z",
        "2025-03-12T23:59:60Z", "2025-03-12t08:15:00z", "2025-03-12T08:15:00", "2025-03-12T08:15:00.Z",
        "2025-03-12T08:15:00.1234567890Z", "2025-03-12T08:15:00+0800", "2025-03-12 08:15:00Z", "25-03-12T08:15:00Z", "",
    ])
    func rejectsWhatThePatternRejects(_ input: String) throws {
        #expect(EventTimestamp.date(from: input) == nil)
        let regex = try Regex(EventTimestamp.pattern)
        if (try? regex.firstMatch(in: input)) != nil {
            // The pattern cannot know month lengths; only calendar-impossible dates may pass it.
            #expect(input.hasPrefix("2025-02-29"))
        }
    }

    @Test func millisecondDatesRoundTripExactly() {
        var generator = EventGenerator(seed: 99)
        for _ in 0..<2000 {
            let date = generator.date()
            #expect(EventTimestamp.date(from: EventTimestamp.string(from: date)) == date)
        }
    }
}
