import Foundation
import Testing

@testable import ComplaintEvents

/// Each invalid input yields one precise error (`path: rule`), usable verbatim as a dead-letter
/// reason or problem detail, and never a crash.
@Suite struct InvalidInputTests {
    /// A valid `complaints.submitted.v1` event; every case below changes one thing.
    static let submitted = #"""
        {"specversion":"1.0","id":"0b8e5d1c-7f3a-4e62-9c4b-2a1d8e7f6c50","source":"/wechat/mini-program",
        "type":"redress.complaint.submitted.v1","subject":"wx-417","time":"2025-03-12T23:38:02+08:00",
        "datacontenttype":"application/json","hotelid":"SHA-PD01",
        "data":{"hotelId":"SHA-PD01","source":"wechat_mp","externalId":"wx-417","channel":"wechat",
        "reportedAt":"2025-03-12T23:37:45+08:00","text":"空调不制冷","language":"zh-CN",
        "guest":{"name":"李伟","roomNumber":"1208","vip":false},"reporter":{"kind":"guest"}}}
        """#

    struct Case: Sendable, CustomTestStringConvertible {
        let label: String
        let bytes: [UInt8]
        let expected: String
        let code: EventValidationError.Code
        var testDescription: String { label }

        init(_ label: String, _ bytes: [UInt8], _ expected: String, _ code: EventValidationError.Code) {
            self.label = label
            self.bytes = bytes
            self.expected = expected
            self.code = code
        }

        /// The valid event with `old` (which must occur exactly once) replaced by `new`.
        init(_ label: String, replacing old: String, with new: String, _ expected: String, _ code: EventValidationError.Code) {
            let parts = InvalidInputTests.submitted.components(separatedBy: old)
            precondition(parts.count == 2, "\(old) must occur exactly once")
            self.init(label, Array(parts.joined(separator: new).utf8), expected, code)
        }
    }

    static let channels = "front_desk, phone, app, wechat, email, review_site, pms, other"

    static let cases: [Case] = [
        Case("missing field", replacing: #""channel":"wechat","#, with: "",
             "data.channel: required property is missing", .missingProperty),
        Case("wrong enum", replacing: #""channel":"wechat""#, with: #""channel":"fax""#,
             "data.channel: must be one of \(channels)", .invalidValue),
        Case("too long", replacing: #""roomNumber":"1208""#, with: #""roomNumber":"East wing room 1208""#,
             "data.guest.roomNumber: longer than 16 characters", .invalidValue),
        Case("too long, counted in code points", replacing: #""roomNumber":"1208""#,
             with: #""roomNumber":"\#(String(repeating: "👍🏽", count: 9))""#,
             "data.guest.roomNumber: longer than 16 characters", .invalidValue),
        Case("empty string", replacing: #""text":"空调不制冷""#, with: #""text":"""#,
             "data.text: must not be empty", .invalidValue),
        Case("pattern", replacing: #""language":"zh-CN""#, with: #""language":"Chinese (Simplified)""#,
             "data.language: must be a BCP 47 language tag such as zh-CN or en", .invalidValue),
        Case("wrong type", replacing: #""vip":false"#, with: #""vip":"no""#,
             "data.guest.vip: expected a boolean, found a string", .typeMismatch),
        Case("number for string", replacing: #""text":"空调不制冷""#, with: #""text":42"#,
             "data.text: expected a string, found a number", .typeMismatch),
        Case("null for optional", replacing: #""language":"zh-CN""#, with: #""language":null"#,
             "data.language: expected a string, found null", .typeMismatch),
        Case("extra property", replacing: #""vip":false"#, with: #""vip":false,"favouriteColour":"blue""#,
             "data.guest.favouriteColour: unknown property", .unknownProperty),
        Case("envelope attribute that is no CloudEvents name", replacing: #""hotelid":"SHA-PD01","#,
             with: #""hotelid":"SHA-PD01","Partition-Key":"x","#, "Partition-Key: unknown property", .unknownProperty),
        Case("envelope extension of the wrong type", replacing: #""hotelid":"SHA-PD01","#,
             with: #""hotelid":"SHA-PD01","partitionkey":{"a":1},"#,
             "partitionkey: expected a string, integer or boolean, found an object", .typeMismatch),
        Case("wrong envelope version", replacing: #""specversion":"1.0""#, with: #""specversion":"0.3""#,
             #"specversion: must be "1.0""#, .invalidValue),
        Case("wrong event type for the topic", replacing: #""type":"redress.complaint.submitted.v1""#,
             with: #""type":"redress.complaint.received.v1""#,
             #"type: must be "redress.complaint.submitted.v1""#, .invalidValue),
        Case("event id not a UUID", replacing: #""id":"0b8e5d1c-7f3a-4e62-9c4b-2a1d8e7f6c50""#, with: #""id":"42""#,
             "id: must be a UUID", .invalidValue),
        Case("subject disagrees with data", replacing: #""subject":"wx-417""#, with: #""subject":"wx-418""#,
             #"subject: does not match data (expected "wx-417")"#, .inconsistent),
        Case("hotelid disagrees with data", replacing: #""hotelid":"SHA-PD01""#, with: #""hotelid":"LON-KX02""#,
             #"hotelid: does not match data.hotelId (expected "SHA-PD01")"#, .inconsistent),
        Case("impossible date", replacing: #""reportedAt":"2025-03-12T23:37:45+08:00""#,
             with: #""reportedAt":"2025-02-30T10:00:00Z""#,
             "data.reportedAt: must be an RFC 3339 date-time such as 2025-03-12T08:15:00Z", .invalidValue),
        Case("date without offset", replacing: #""reportedAt":"2025-03-12T23:37:45+08:00""#,
             with: #""reportedAt":"2025-03-12 23:37:45""#,
             "data.reportedAt: must be an RFC 3339 date-time such as 2025-03-12T08:15:00Z", .invalidValue),
        Case("object for string", replacing: #""source":"wechat_mp""#, with: #""source":{"name":"wechat"}"#,
             "data.source: expected a string, found an object", .typeMismatch),
        Case("malformed JSON: truncated", Array(#"{"specversion":"1.0","id":"#.utf8),
             "malformed JSON at byte 26: unexpected end of input", .malformedJSON),
        Case("malformed JSON: trailing comma", Array(#"{"specversion":"1.0",}"#.utf8),
             "malformed JSON at byte 21: expected a property name in double quotes", .malformedJSON),
        Case("malformed JSON: single quotes", Array("{'specversion':'1.0'}".utf8),
             "malformed JSON at byte 1: expected a property name in double quotes", .malformedJSON),
        Case("malformed JSON: trailing garbage", Array(#"{} x"#.utf8),
             "malformed JSON at byte 3: unexpected content after the JSON value", .malformedJSON),
        Case("malformed JSON: duplicate property", replacing: #""channel":"wechat","#,
             with: #""channel":"wechat","channel":"phone","#,
             #"malformed JSON at byte 343: duplicate property "channel""#, .malformedJSON),
        Case("malformed JSON: invalid UTF-8", Array(#"{"text":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8),
             "malformed JSON at byte 9: invalid UTF-8", .malformedJSON),
        Case("malformed JSON: unpaired surrogate", Array(#"{"text":"\ud83d"}"#.utf8),
             #"malformed JSON at byte 9: unpaired UTF-16 surrogate in \u escape"#, .malformedJSON),
        Case("malformed JSON: raw control character", Array("{\"text\":\"a\u{1}b\"}".utf8),
             "malformed JSON at byte 10: control character U+0001 must be escaped in a string", .malformedJSON),
        Case("malformed JSON: NaN", Array(#"{"sentiment":NaN}"#.utf8),
             "malformed JSON at byte 13: unexpected character 'N'", .malformedJSON),
        Case("malformed JSON: leading zero", Array(#"{"priority":01}"#.utf8),
             "malformed JSON at byte 13: leading zeros are not allowed", .malformedJSON),
        Case("empty input", [], "malformed JSON at byte 0: empty input", .malformedJSON),
        Case("not an object", Array("[1,2]".utf8), "expected an object, found an array", .typeMismatch),
        Case("10,000-deep nesting of arrays",
             Array((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8),
             "JSON nested deeper than 32 levels (at byte 32)", .tooDeep),
        Case("10,000-deep nesting inside data",
             Array((#"{"data":"# + String(repeating: #"{"a":"#, count: 10_000) + "1" + String(repeating: "}", count: 10_001)).utf8),
             "JSON nested deeper than 32 levels (at byte 163)", .tooDeep),
        Case("larger than the limit", Array(repeating: UInt8(ascii: " "), count: EventCoding.maximumEventSize + 1),
             "event is larger than 1048576 bytes", .tooLarge),
    ]

    @Test(arguments: cases)
    func invalidInputYieldsItsPreciseError(_ invalid: Case) {
        #expect(throws: EventValidationError.self) { try Topics.submitted.decode(invalid.bytes) }
        do {
            _ = try Topics.submitted.decode(invalid.bytes)
        } catch {
            #expect(error.description == invalid.expected)
            #expect(error.code == invalid.code)
            #expect(error.description == (error.path.isEmpty ? error.rule : "\(error.path): \(error.rule)"))
        }
    }

    @Test func theBaseEventIsValid() throws {
        let event = try Topics.submitted.decode(Array(Self.submitted.utf8))
        #expect(event.data.guest.roomNumber == "1208")
        #expect(event.subject == "wx-417")
    }

    /// Precise errors in the payloads with kinds, nested arrays and lower-case ids.
    @Test(arguments: [
        ("complaint-updated.v1.resolved.zh.json", #""resolution":"#, #""note":{"text":"x","visibility":"guest"},"resolution":"#,
         "data.note: not allowed when kind is resolved"),
        ("complaint-updated.v1.resolved.zh.json", #""kind": "resolved""#, #""kind": "note_added""#,
         "data.resolution: not allowed when kind is note_added"),
        ("complaint-updated.v1.followup-recorded.en.json", #""satisfaction": 2"#, #""satisfaction": 6"#,
         "data.followUp.satisfaction: greater than 5"),
        ("complaint-updated.v1.followup-recorded.en.json", #""satisfaction": 2"#, #""satisfaction": 2.5"#,
         "data.followUp.satisfaction: expected an integer, found a fraction"),
        ("complaint-sla.v1.escalated.json", #""level": 1"#, #""level": 4"#, "data.escalation.level: greater than 3"),
        ("complaint-sla.v1.breached.json", #""kind": "breached""#, #""kind": "escalated""#,
         "data.escalation: required property is missing"),
        ("complaint-classified.v1.zh.json", #""一直没人来""#, #""\#(String(repeating: "没", count: 65))""#,
         "data.explanation.matchedTerms[3]: longer than 64 characters"),
        ("complaint-classified.v1.zh.json", #""sentiment": -0.72"#, #""sentiment": -1.5"#, "data.sentiment: less than -1"),
        ("complaint-received.v1.zh.json", #""complaintId": "5f0c2a9e"#, #""complaintId": "5F0C2A9E"#,
         "data.complaintId: must be a lower-case UUID"),
        ("complaint-updated.v1.compensation-approved.zh.json", #""currency": "CNY""#, #""currency": "RMB1""#,
         "data.compensation.currency: longer than 3 characters"),
        ("notification-outcome.v1.delivered.zh.json", #""kind": "delivered""#, #""kind": "failed""#,
         "data.error: required property is missing"),
        ("early-warning-alert.v1.json", #""hotelid": "SHA-PD01","#, #""hotelid": "SHA-PD01", "subject": "x","#,
         "subject: not allowed for redress.alert.earlywarning.v1"),
        ("dead-letter-record.v1.json", #""originalKey": "R0VOLTg4MjEz""#, #""originalKey": "R0VOLTg4MjEz=""#,
         "data.originalKey: must be padded base64"),
    ])
    func payloadErrorsArePrecise(file: String, old: String, new: String, expected: String) throws {
        let text = try String(contentsOf: Fixtures.examples.appendingPathComponent(file), encoding: .utf8)
        #expect(text.components(separatedBy: old).count == 2, "\(old) must occur once in \(file)")
        let bytes = Array(text.replacingOccurrences(of: old, with: new).utf8)
        let info = try #require(EventSchemaInfo.named(Fixtures.schemaName(of: URL(fileURLWithPath: file))))
        let topic = try #require(Topics.named(info.topicName))
        #expect(throws: EventValidationError.self) { try topic.validate(bytes) }
        do {
            try topic.validate(bytes)
        } catch {
            #expect(error.description == expected)
        }
    }

    /// Unknown CloudEvents extension attributes are accepted and dropped, as the CloudEvents spec asks.
    @Test func unknownExtensionAttributesAreIgnored() throws {
        let parts = Self.submitted.components(separatedBy: #""hotelid":"SHA-PD01","#)
        let bytes = Array(parts.joined(separator: #""hotelid":"SHA-PD01","partitionkey":"x","sequence":7,"sampled":true,"#).utf8)
        let event = try Topics.submitted.decode(bytes)
        #expect(event == (try Topics.submitted.decode(Array(Self.submitted.utf8))))
    }

    /// A document a service stored itself is read past members a newer build added (a rollback), nested
    /// ones included, while every other rule holds; the strict decode still refuses them.
    @Test func storedDocumentsIgnoreUnknownMembersOnly() throws {
        let parts = Self.submitted.components(separatedBy: #""vip":false"#)
        let added = Array(parts.joined(separator: #""vip":false,"addedLater":{"x":1}"#).utf8)
        #expect(throws: EventValidationError.self) { try EventCoding.decode(EventEnvelope<ComplaintSubmitted>.self, from: added) }
        let stored = try EventCoding.decodeStored(EventEnvelope<ComplaintSubmitted>.self, from: added)
        #expect(stored == (try Topics.submitted.decode(Array(Self.submitted.utf8))))
        let wrong = Array(parts.joined(separator: #""vip":"no""#).utf8)
        #expect(throws: EventValidationError.self) { try EventCoding.decodeStored(EventEnvelope<ComplaintSubmitted>.self, from: wrong) }
        // The strict decode after a lenient one is strict again (the leniency does not leak).
        #expect(throws: EventValidationError.self) { try Topics.submitted.decode(added) }
    }

    /// Encoding refuses what decoding would refuse, so no service can publish an invalid event.
    @Test func encodingRejectsInvalidValues() throws {
        var event = try Topics.submitted.decode(Array(Self.submitted.utf8))
        event.data.guest.roomNumber = "East wing room 1208"
        #expect(throws: EventValidationError.self) { try Topics.submitted.encode(event) }
        do {
            _ = try Topics.submitted.encode(event)
        } catch {
            #expect(error.description == "data.guest.roomNumber: longer than 16 characters")
        }
        event = try Topics.submitted.decode(Array(Self.submitted.utf8))
        event.hotelID = "LON-KX02"
        #expect(throws: EventValidationError.self) { try Topics.submitted.encode(event) }
    }
}
