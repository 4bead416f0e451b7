import Foundation

/// One event as an operator reads it in `redress tail`: when, which hotel and complaint, what
/// happened, and the few fields that matter for that kind of event. Built from the raw message
/// (any topic, any version a field is missing from), so a malformed value is still shown, never
/// dropped.
public struct EventLine: Sendable, Hashable {
    /// How an event should catch the eye on a terminal.
    public enum Tone: Sendable, Hashable {
        case plain, good, notice, bad, quiet
    }

    public var time: String
    public var hotel: String
    /// The complaint id (the envelope's subject for complaint events).
    public var complaint: String
    /// The short type: `received`, `classified`, `sla`, `notification`, `alert`, `dead-letter` …
    public var type: String
    /// `name=value` details, in reading order.
    public var details: [String]
    /// The complaint's severity when the event carries one.
    public var severity: String?
    public var tone: Tone

    /// Reads one message value of `topic`.
    public init(topic: String, value: [UInt8]) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(value))) as? [String: Any] else {
            time = "-"
            hotel = "-"
            complaint = "-"
            type = Self.shortType(topic: topic)
            details = ["unreadable=\(Self.clip(String(decoding: value.prefix(80), as: UTF8.self), 80))"]
            severity = nil
            tone = .bad
            return
        }
        let data = object["data"] as? [String: Any] ?? [:]
        time = object["time"] as? String ?? "-"
        hotel = object["hotelid"] as? String ?? data["hotelId"] as? String ?? "-"
        complaint = data["complaintId"] as? String ?? object["subject"] as? String ?? "-"
        type = Self.shortType(eventType: object["type"] as? String, topic: topic)
        // An alert's severity (warning, critical) is not a complaint's.
        severity = type == "alert" ? nil : data["severity"] as? String
        (details, tone) = Self.details(type: type, data: data)
        if tone == .plain, let severity { tone = severity == "serious" ? .notice : .plain }
    }

    /// `complaint.classified.v1` → `classified`; `notification.outcome.v1` → `notification`.
    static func shortType(eventType: String?, topic: String) -> String {
        guard let eventType else { return shortType(topic: topic) }
        var parts = eventType.split(separator: ".").map(String.init)
        if parts.first == "redress" { parts.removeFirst() }
        if let last = parts.last, last.first == "v", Int(last.dropFirst()) != nil { parts.removeLast() }
        switch parts.first {
        case "complaint": return parts.dropFirst().joined(separator: ".")
        case "notification": return "notification"
        case "alert": return "alert"
        case "deadletter": return "dead-letter"
        default: return parts.joined(separator: ".")
        }
    }

    static func shortType(topic: String) -> String {
        let parts = topic.split(separator: ".")
        return parts.count >= 2 ? String(parts[1]) : topic
    }

    static func details(type: String, data: [String: Any]) -> ([String], Tone) {
        var fields: [String] = []
        func add(_ name: String, _ value: Any?) {
            guard let value else { return }
            let text: String
            switch value {
            case let string as String: text = string
            case let number as NSNumber: text = number.stringValue
            default: return
            }
            if !text.isEmpty { fields.append("\(name)=\(text)") }
        }
        func quote(_ text: Any?) {
            if let text = text as? String { fields.append("\"\(clip(text.replacingOccurrences(of: "\n", with: " "), 60))\"") }
        }
        var tone = Tone.plain
        switch type {
        case "submitted":
            add("source", data["source"])
            add("externalId", data["externalId"])
            add("channel", data["channel"])
            quote(data["text"])
        case "received":
            add("channel", data["channel"])
            add("room", (data["guest"] as? [String: Any])?["roomNumber"])
            quote(data["text"])
        case "classified":
            add("category", data["category"])
            add("severity", data["severity"])
            add("priority", data["priority"])
            let flags = (data["flags"] as? [String: Any] ?? [:]).filter { ($0.value as? Bool) == true }.keys.sorted()
            if !flags.isEmpty { fields.append("flags=" + flags.joined(separator: ",")) }
        case "assigned":
            add("department", data["department"])
            let assignee = data["assignee"] as? [String: Any]
            add("assignee", assignee?["name"] ?? assignee?["staffId"])
            add("reason", data["reason"])
            if let level = data["escalationLevel"] as? Int, level > 0 { add("level", level) }
        case "updated":
            add("kind", data["kind"])
            add("status", data["statusAfter"])
            add("by", (data["actor"] as? [String: Any])?["name"] ?? (data["actor"] as? [String: Any])?["id"])
            if let compensation = data["compensation"] as? [String: Any], let amount = compensation["amountMinor"] as? Int {
                fields.append("compensation=\(amount) \(compensation["currency"] as? String ?? "") minor")
            }
            if data["kind"] as? String == "reopened" { tone = .notice }
        case "sla":
            let kind = data["kind"] as? String
            add("kind", kind)
            add("target", data["target"])
            add("deadline", data["deadline"])
            if let escalation = data["escalation"] as? [String: Any] {
                add("level", escalation["level"])
                add("to", escalation["escalateTo"])
            }
            add("lateMs", data["latenessMs"])
            switch kind {
            case "met": tone = .good
            case "warning", "paused", "rescheduled": tone = .notice
            case "breached", "escalated", "ceiling_reached": tone = .bad
            default: tone = .quiet
            }
        case "notification":
            let kind = data["kind"] as? String
            add("kind", kind)
            add("channel", data["channel"])
            add("to", (data["recipient"] as? [String: Any])?["kind"])
            add("template", data["template"])
            add("attempts", data["attempts"])
            tone = kind == "delivered" ? .good : (kind == "failed" || kind == "given_up" ? .bad : .quiet)
        case "alert":
            add("kind", data["kind"])
            add("state", data["state"])
            add("category", data["category"])
            add("observed", data["observed"])
            add("baseline", data["baseline"])
            tone = data["state"] as? String == "cleared" ? .good : .bad
        case "dead-letter":
            add("service", data["service"])
            if let topic = data["sourceTopic"] as? String {
                fields.append("from=\(topic)@\(data["partition"] as? Int ?? -1)/\(data["offset"] as? Int ?? -1)")
            }
            quote(data["reason"])
            tone = .bad
        default:
            for key in data.keys.sorted().prefix(4) { add(key, data[key]) }
        }
        return (fields, tone)
    }

    static func clip(_ text: String, _ length: Int) -> String {
        text.count <= length ? text : String(text.prefix(length - 1)) + "…"
    }

    /// `text` safe to print on an operator's terminal: control characters (C0, DEL, C1: escape sequences,
    /// a bare carriage return) and bidirectional overrides become U+FFFD. A guest's text — or anything a
    /// publisher put on a topic — could otherwise move the cursor, erase earlier lines (hiding a serious
    /// complaint), set the window title or reorder what is shown.
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { isUnsafe($0) ? "\u{FFFD}" : $0 }))
    }

    private static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// `redress tail --json`'s line for a message: always one valid JSON value on one line, for `jq`, and
    /// safe on a terminal. A readable value is the event as published, its whitespace between tokens made
    /// spaces (a pretty-printed event took several lines); anything else (what a dead-letter
    /// investigation looks for) is `{"offset":…,"partition":…,"topic":…,"unreadable":"<its text>"}`, so
    /// jq does not stop at it. DEL, C1 controls and bidirectional overrides, which JSON lets through in
    /// strings, are written as `\uXXXX` escapes.
    public static func jsonLine(topic: String, partition: Int32, offset: Int64, value: [UInt8]) -> String {
        if let text = String(validating: value, as: UTF8.self),
           (try? JSONSerialization.jsonObject(with: Data(value), options: [.fragmentsAllowed])) != nil
        {
            return terminalSafeJSON(text)
        }
        let wrapper: [String: Any] = [
            "topic": topic, "partition": Int(partition), "offset": offset, "unreadable": String(decoding: value, as: UTF8.self),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: wrapper, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return terminalSafeJSON(String(decoding: data, as: UTF8.self))
    }

    /// Valid JSON text on one line with nothing a terminal would act on. Outside strings JSON has only
    /// ASCII tokens and whitespace: whitespace becomes a space, and anything unsafe left is inside a
    /// string, where a `\uXXXX` escape means the same character.
    static func terminalSafeJSON(_ json: String) -> String {
        var result = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            switch scalar {
            case "\n", "\r", "\t": result.append(" ")
            case _ where isUnsafe(scalar):
                for escaped in String(format: "\\u%04X", scalar.value).unicodeScalars { result.append(escaped) }
            default: result.append(scalar)
            }
        }
        return String(result)
    }

    /// One line: time, hotel, the complaint's first 8 characters, type, details; ANSI colours when asked.
    /// Every part is ``printable(_:)``: the only escape sequences are the colours added here.
    public func formatted(colour: Bool) -> String {
        let time = Self.printable(self.time), hotel = Self.printable(self.hotel), type = Self.printable(self.type)
        let complaint = Self.printable(self.complaint)
        let shortComplaint = complaint.count > 8 && complaint.contains("-") ? String(complaint.prefix(8)) : complaint
        let head = "\(time)  \(hotel.padding(toLength: max(hotel.count, 9), withPad: " ", startingAt: 0)) \(shortComplaint.padding(toLength: 8, withPad: " ", startingAt: 0))  "
        let kind = type.padding(toLength: max(type.count, 12), withPad: " ", startingAt: 0) + " "
        let rest = Self.printable(details.joined(separator: " "))
        guard colour else { return head + kind + rest }
        let code: String
        switch tone {
        case .plain: code = "1"
        case .good: code = "1;32"
        case .notice: code = "1;33"
        case .bad: code = "1;31"
        case .quiet: code = "2"
        }
        return "\u{1B}[2m\(head)\u{1B}[0m\u{1B}[\(code)m\(kind)\u{1B}[0m\(rest)"
    }
}
