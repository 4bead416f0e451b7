import Foundation

extension EventEnvelope where Payload == DeadLetterRecord {
    /// Wraps a dead letter for `complaints.deadletter.v1`, produced by `record.service`.
    ///
    /// `hotelid` and `traceparent` are taken from the original event where it carries valid ones,
    /// so hotel-scoped views and traces still find the dead letter; otherwise `hotelid` is
    /// ``DeadLetterRecord/unknownHotelID``. The id is ``DeadLetterRecord/eventID`` unless given.
    public init(deadLetter record: DeadLetterRecord, time: Date, id: UUID? = nil) {
        let original = record.isValueTruncated
            ? nil
            : record.originalValue.flatMap { try? JSONParser.parse([UInt8]($0), maximumSize: EventCoding.maximumEventSize, maximumDepth: EventCoding.maximumNestingDepth) }
        func attribute(_ name: String, _ pattern: TextPattern) -> String? {
            guard case .string(let text)? = original?[name], pattern.matches(text) else { return nil }
            return text
        }
        let headerTrace = record.originalHeaders.first { $0.key == "traceparent" }?.value
            .map { String(decoding: $0, as: UTF8.self) }
            .flatMap { TextPattern.traceParent.matches($0) ? $0 : nil }
        self.init(
            id: id ?? record.eventID, source: "/redress/\(record.service)", time: time,
            hotelID: attribute("hotelid", .identifier) ?? DeadLetterRecord.unknownHotelID,
            traceParent: headerTrace ?? attribute("traceparent", .traceParent), data: record)
    }
}
