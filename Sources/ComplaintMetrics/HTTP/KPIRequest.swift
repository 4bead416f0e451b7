import Access
import ComplaintEvents
import Foundation
import HotelTime

/// Turns `/v1/kpis`'s query string into a ``KPIQuery`` for a caller, or a 422 naming the parameter
/// (an unknown hotel, a day that does not exist, a range over a year, an unknown grouping or filter) or a
/// 403 for a hotel outside the key's scope.
public struct KPIRequest: Sendable {
    public var settings: MetricsSettings
    /// Hotels seen in events (besides those in the metrics file).
    public var seenHotels: Set<String>
    public var now: Date

    public init(settings: MetricsSettings, seenHotels: Set<String>, now: Date) {
        self.settings = settings
        self.seenHotels = seenHotels
        self.now = now
    }

    /// Every hotel the metrics service knows, sorted.
    public var knownHotels: [String] { Set(settings.hotels.keys).union(seenHotels).sorted() }

    /// The hotels `parameter` names (comma-separated; all the caller may see when absent).
    public func hotels(_ parameter: String?, caller: Caller) throws(Problem) -> [MetricsSettings.Hotel] {
        let known = Set(knownHotels)
        guard let parameter, !parameter.isEmpty else {
            let visible = knownHotels.filter { caller.covers(hotel: $0) }
            return visible.map(settings.hotel)
        }
        var hotels: [MetricsSettings.Hotel] = []
        for id in parameter.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) where !id.isEmpty {
            // Scope first: a key learns nothing about hotels outside it, not even which exist.
            guard caller.covers(hotel: id) else { throw Problem.forbidden("this key is not scoped to hotel \(id)") }
            guard known.contains(id) else {
                let visible = knownHotels.filter { caller.covers(hotel: $0) }
                throw Problem.validation(field: "query.hotel", rule: "unknown hotel \(id) (known to this key: \(visible.joined(separator: ", ")))")
            }
            if !hotels.contains(where: { $0.id == id }) { hotels.append(settings.hotel(id)) }
        }
        return hotels
    }

    /// The parameters `/v1/kpis` reads; any other is a 422.
    public static let parameters: Set<String> = ["hotel", "from", "to", "groupBy", "category", "severity", "channel", "department"]

    /// The query for `parameters` (those named in ``parameters``). Without `to` the range ends today in the
    /// first hotel's zone; without `from` it covers the 30 days up to `to`.
    public func query(_ parameters: [String: String], caller: Caller) throws(Problem) -> KPIQuery {
        let hotels = try hotels(parameters["hotel"], caller: caller)
        var errors: [Problem.FieldError] = []
        func day(_ name: String) -> LocalDate? {
            guard let text = parameters[name], !text.isEmpty else { return nil }
            guard let date = LocalDate(text) else {
                errors.append(.init(field: "query.\(name)", rule: "must be a date YYYY-MM-DD that exists"))
                return nil
            }
            return date
        }
        let zone = ZonedCalendar(timeZone: hotels.first?.timeZone ?? .gmt)
        let to = day("to") ?? zone.day(of: now)
        let from = day("from") ?? zone.day(to, plus: -29) ?? to
        var query = KPIQuery(hotels: hotels, from: from, to: to)
        if let text = parameters["groupBy"], !text.isEmpty {
            if let grouping = KPIQuery.Grouping(rawValue: text) {
                query.groupBy = grouping
            } else {
                errors.append(.init(field: "query.groupBy", rule: "must be one of " + KPIQuery.Grouping.allCases.map(\.rawValue).joined(separator: ", ")))
            }
        }
        func value<E: RawRepresentable & CaseIterable>(_ name: String, _ type: E.Type) -> E? where E.RawValue == String {
            guard let text = parameters[name], !text.isEmpty else { return nil }
            guard let value = E(rawValue: text) else {
                errors.append(.init(field: "query.\(name)", rule: "must be one of " + E.allCases.map(\.rawValue).joined(separator: ", ")))
                return nil
            }
            return value
        }
        query.category = value("category", ComplaintCategory.self)
        query.severity = value("severity", Severity.self)
        query.channel = value("channel", ComplaintChannel.self)
        if let department = parameters["department"], !department.isEmpty { query.department = department }
        if errors.isEmpty {
            if query.to < query.from {
                errors.append(.init(field: "query.to", rule: "must not be before from (\(query.from))"))
            } else if query.dayCount > KPIQuery.longestRangeDays {
                errors.append(.init(
                    field: "query.to", rule: "the range spans \(query.dayCount) days; at most \(KPIQuery.longestRangeDays) (a year) are allowed"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        return query
    }
}
