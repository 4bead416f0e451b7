import Foundation

/// An RFC 5322 message with a text and an HTML alternative (`multipart/alternative`, UTF-8, base64), with
/// a `Message-ID` the caller derives from the notification so that a repeated send is the same message.
public struct MailMessage: Sendable, Hashable {
    public var from: MailAddress
    public var to: MailAddress
    public var subject: String
    public var text: String
    public var html: String?
    /// Without angle brackets: `<notification id>@<domain>`.
    public var messageID: String
    public var date: Date
    public var language: String?
    public var extraHeaders: [(String, String)] = []

    public init(from: MailAddress, to: MailAddress, subject: String, text: String, html: String?, messageID: String, date: Date, language: String? = nil) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.date = date
        self.language = language
    }

    public static func == (lhs: MailMessage, rhs: MailMessage) -> Bool { lhs.rendered == rhs.rendered }
    public func hash(into hasher: inout Hasher) { hasher.combine(rendered) }

    /// The message as sent, CRLF line ends.
    public var rendered: String {
        var headers: [(String, String)] = [
            ("From", from.header),
            ("To", to.header),
            ("Subject", Self.encodedWord(subject)),
            ("Date", Self.dateFormatter.string(from: date)),
            ("Message-ID", "<\(messageID)>"),
            ("MIME-Version", "1.0"),
            ("Auto-Submitted", "auto-generated"),
        ]
        if let language { headers.append(("Content-Language", language)) }
        headers += extraHeaders
        var lines = [String]()
        if let html {
            let boundary = "redress-" + messageID.prefix(while: { $0 != "@" }).filter { $0.isLetter || $0.isNumber }
            headers.append(("Content-Type", "multipart/alternative; boundary=\"\(boundary)\""))
            lines += headers.map { "\($0.0): \($0.1)" }
            lines += ["", "This is a multi-part message in MIME format.", ""]
            lines += ["--\(boundary)"] + Self.part("text/plain", text)
            lines += ["--\(boundary)"] + Self.part("text/html", html)
            lines += ["--\(boundary)--", ""]
        } else {
            headers.append(("Content-Type", "text/plain; charset=utf-8"))
            headers.append(("Content-Transfer-Encoding", "base64"))
            lines += headers.map { "\($0.0): \($0.1)" }
            lines += [""] + Self.base64Lines(text) + [""]
        }
        return lines.joined(separator: "\r\n")
    }

    private static func part(_ type: String, _ body: String) -> [String] {
        ["Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: base64", ""] + base64Lines(body) + [""]
    }

    private static func base64Lines(_ text: String) -> [String] {
        let encoded = Data(text.utf8).base64EncodedString()
        var lines: [String] = []
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let end = encoded.index(index, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
            lines.append(String(encoded[index..<end]))
            index = end
        }
        return lines
    }

    /// RFC 2047 `=?UTF-8?B?…?=` for anything beyond printable ASCII (or too long for one line).
    static func encodedWord(_ text: String) -> String {
        let plain = text.unicodeScalars.allSatisfy { $0.value >= 32 && $0.value < 127 }
        if plain && text.utf8.count <= 900 { return text }
        // Encoded words of at most 75 characters, split between characters, folded onto continuation lines.
        var words: [String] = []
        var chunk = ""
        for character in text {
            if Data((chunk + String(character)).utf8).count > 45 {
                words.append("=?UTF-8?B?\(Data(chunk.utf8).base64EncodedString())?=")
                chunk = ""
            }
            chunk.append(character)
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Data(chunk.utf8).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    private static let dateFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter
    }()
}

/// An address with an optional display name.
public struct MailAddress: Sendable, Hashable {
    public var address: String
    public var name: String?

    public init(_ address: String, name: String? = nil) {
        self.address = address
        self.name = name
    }

    /// Parses `Name <address>` or a bare address.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.unicodeScalars.contains(where: { $0.value < 32 || $0.value == 127 }) else { return nil }
        if let open = trimmed.lastIndex(of: "<"), trimmed.hasSuffix(">") {
            let address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
            let name = trimmed[..<open].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard Self.isAddress(address) else { return nil }
            self.init(address, name: name.isEmpty ? nil : name)
        } else {
            guard Self.isAddress(trimmed) else { return nil }
            self.init(trimmed)
        }
    }

    /// One `@`, something either side, no spaces, angle brackets or line breaks (which would let a
    /// value inject SMTP commands or headers).
    public static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty && text.utf8.count <= 254
            && !text.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0.isNewline || $0 == "," })
    }

    var header: String {
        guard let name, !name.isEmpty else { return "<\(address)>" }
        let plain = name.unicodeScalars.allSatisfy { $0.value >= 32 && $0.value < 127 && $0 != "\"" && $0 != "\\" }
        return (plain ? "\"\(name)\"" : MailMessage.encodedWord(name)) + " <\(address)>"
    }
}
