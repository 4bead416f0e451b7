/// What `redress tail` shows: events of some hotels, severities, types or one complaint. Severity
/// is remembered per complaint from the events that carry it (classified, assigned, clock events),
/// so `--severity serious` also shows the staff actions and notifications of serious complaints
/// seen earlier in the stream (`--from-beginning` sees them all).
public struct TailFilter: Sendable {
    public var hotels: Set<String> = []
    public var severities: Set<String> = []
    /// Short types (`classified`, `sla`, …) or full CloudEvents types.
    public var types: Set<String> = []
    /// A complaint id or its first characters.
    public var complaint: String?
    private var severityOfComplaint: [String: String] = [:]
    /// Complaints in the order first seen, to forget the oldest when the map grows large.
    private var seenOrder: [String] = []

    /// The short types an event line can have (``EventLine/type``).
    public static let shortTypes: Set<String> = ["submitted", "received", "classified", "assigned", "updated", "sla", "notification", "alert", "dead-letter"]

    /// Checks `--type` values: a short type, or a full CloudEvents type (it has dots). Anything else
    /// (`sla-warning`, `notifications`) would match nothing, and tail would sit there printing nothing.
    public static func checkTypes(_ types: some Sequence<String>) throws(TailError) {
        for type in types where !type.contains(".") && !shortTypes.contains(type) {
            throw TailError("no event type '\(type)': use one of \(shortTypes.sorted().joined(separator: ", ")), or a full type such as redress.complaint.sla.v1")
        }
    }

    /// Hotel ids are upper case (`SHA-PD01`): `--hotel sha-pd01` means the same hotel.
    public init(hotels: Set<String> = [], severities: Set<String> = [], types: Set<String> = [], complaint: String? = nil) {
        self.hotels = Set(hotels.map { $0.uppercased() })
        self.severities = severities
        self.types = types
        self.complaint = complaint?.lowercased()
    }

    /// Whether `line` is shown; learns its complaint's severity first.
    public mutating func admits(_ line: EventLine, eventType: String? = nil) -> Bool {
        if let severity = line.severity, line.complaint != "-" {
            if severityOfComplaint.updateValue(severity, forKey: line.complaint) == nil {
                seenOrder.append(line.complaint)
                if seenOrder.count > 100_000 {
                    for old in seenOrder.prefix(50_000) { severityOfComplaint[old] = nil }
                    seenOrder.removeFirst(50_000)
                }
            }
        }
        if !hotels.isEmpty && !hotels.contains(line.hotel.uppercased()) { return false }
        if !types.isEmpty && !types.contains(line.type) && !(eventType.map(types.contains) ?? false) { return false }
        if let complaint, !line.complaint.lowercased().hasPrefix(complaint) { return false }
        if !severities.isEmpty {
            guard let severity = line.severity ?? severityOfComplaint[line.complaint], severities.contains(severity) else { return false }
        }
        return true
    }
}
