import ComplaintEvents
import Foundation

/// The values a template sees, built from the intent (and, for a guest, their first name): labels in
/// the message's language, times in the hotel's zone. A guest message never sees the assignee's full
/// name or role, only a first name.
enum MessageValues {
    static func make(
        intent: NotificationIntent, rules: NotificationRules, templates: TemplateCatalog, guest: GuestContact?, link: String?
    ) -> [String: Any] {
        let language = intent.language
        let hotel = rules.hotel(intent.hotelID)
        let facts = intent.facts
        let forGuest = intent.recipient.kind == .guest
        var complaint: [String: Any] = [
            "id": intent.complaintID.uuidString.lowercased(),
            "reference": String(intent.complaintID.uuidString.prefix(8)).uppercased(),
        ]
        if let category = facts.category {
            complaint["category"] = templates.label("category", category.rawValue, language: language)
            complaint["categoryCode"] = category.rawValue
        }
        if let severity = facts.severity {
            complaint["severity"] = templates.label("severity", severity.rawValue, language: language)
            complaint["severityCode"] = severity.rawValue
            complaint["serious"] = severity == .serious
        }
        if let department = facts.department, !forGuest { complaint["department"] = department }
        var values: [String: Any] = [
            "complaint": complaint,
            "hotel": ["id": intent.hotelID, "name": hotel.name ?? intent.hotelID],
        ]
        if let name = facts.assigneeName {
            let firstName = name.split(separator: " ").first.map(String.init) ?? name
            if forGuest {
                if let shown = guestFacingFirstName(name) { values["assignee"] = ["firstName": shown] }
            } else {
                values["assignee"] = ["name": name, "firstName": firstName, "role": templates.label("role", facts.assigneeRole?.rawValue ?? "staff", language: language)]
            }
        }
        if let guest, let firstName = guest.firstName { values["guest"] = ["firstName": firstName] }
        if let level = facts.escalationLevel, level > 0 { values["escalationLevel"] = level }
        if let target = facts.target { values["target"] = templates.label("target", target.rawValue, language: language) }
        if let deadline = facts.deadline { values["deadline"] = localTime(deadline, in: hotel.timeZone) }
        if let link { values["link"] = link }
        return values
    }

    /// What a guest may see of a staff member's name: the first word of a name written with spaces
    /// (`Maria Rossi` → `Maria`); nothing for one written without them in Chinese, Japanese or Korean
    /// script (`王建国`), which is the whole name, family name first.
    static func guestFacingFirstName(_ name: String) -> String? {
        let words = name.split(whereSeparator: \.isWhitespace)
        guard let first = words.first else { return nil }
        let unspaced = first.unicodeScalars.contains { scalar in
            scalar.properties.isIdeographic
                || (0xAC00...0xD7AF).contains(scalar.value)  // Hangul syllables
                || (0x3040...0x30FF).contains(scalar.value)  // Hiragana and Katakana
        }
        return unspaced ? nil : String(first)
    }

    /// `2026-12-02 14:30 (Asia/Shanghai)`.
    static func localTime(_ date: Date, in zone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return "\(formatter.string(from: date)) (\(zone.identifier))"
    }
}
