import Access
import ComplaintEvents
import ComplaintPipeline
import Foundation
import HotelTime
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import ServiceLifecycle

/// The HTTP API of the metrics service, documented in `services/metrics/openapi.yaml`, for manager keys
/// (their hotels) and admin keys (the group): the KPIs (`/v1/kpis`), the service-quality index
/// (`/v1/quality-index`), the hotels (`/v1/hotels`), today's open complaints with their deadlines
/// (`/v1/open`), the early-warning alerts (`/v1/alerts`) and the live stream the dashboard follows
/// (`/v1/live`, server-sent events).
public struct MetricsAPI: Sendable {
    public var store: StageStore
    public var database: DatabaseGuard
    public var authentication: AuthenticationMiddleware
    public var settings: LiveConfiguration<MetricsSettings>
    /// The live feed, once it runs (`nil`: `/v1/live` answers 503).
    public var feedLookup: @Sendable () -> LiveFeed?
    public var clock: @Sendable () -> Date = { Date() }
    /// The KPI gauges, served at `/v1/metrics` in the Prometheus text format to admin keys (every hotel's).
    public var kpiRegistry: PrometheusCollectorRegistry?

    public init(
        store: StageStore, database: DatabaseGuard, authentication: AuthenticationMiddleware, settings: LiveConfiguration<MetricsSettings>,
        feed: LiveFeed?
    ) {
        self.store = store
        self.database = database
        self.authentication = authentication
        self.settings = settings
        self.feedLookup = { feed }
    }

    public func addRoutes(to router: Router<RedressRequestContext>) {
        let api = router.group("v1").add(middleware: authentication)
        api.get("metrics") { request, context -> Response in
            _ = try context.caller(atLeast: .admin, for: request)
            guard let kpiRegistry else { throw Problem.notFound("the KPI gauges are not kept in this process") }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: kpiRegistry.emitToBuffer())))
        }
        api.get("kpis") { request, context in
            try await scoped(request, context, reads: KPIRequest.parameters) { scope, connection, logger in
                let query = try scope.lookup.query(scope.parameters, caller: scope.caller)
                return try await KPIStore(settings: scope.settings).report(query, now: scope.now, on: connection, logger: logger)
            }
        }
        api.get("hotels") { request, context in
            try await scoped(request, context, reads: []) { scope, _, _ in
                HotelList(hotels: try scope.hotels(all: true).map(HotelList.Entry.init))
            }
        }
        api.get("quality-index") { request, context in
            try await scoped(request, context, reads: ["hotel", "month"]) { scope, connection, logger in
                var indices: [QualityIndex] = []
                for hotel in try scope.hotels() {
                    let calendar = ZonedCalendar(timeZone: hotel.timeZone)
                    let today = calendar.day(of: scope.now)
                    let (first, last) = try Self.month(scope.parameters["month"], today: today, calendar: calendar)
                    // A month that has not begun in the hotel's zone has nothing to score (it scored 100).
                    guard first <= today else {
                        throw Problem.validation(
                            field: "query.month", rule: "\(first.description.prefix(7)) has not begun at \(hotel.id) (today there is \(today))")
                    }
                    // The month so far: its per-month rates are scaled from the days that have passed.
                    let query = KPIQuery(hotels: [hotel], from: first, to: min(last, max(first, today)))
                    let report = try await KPIStore(settings: scope.settings).report(query, now: scope.now, on: connection, logger: logger)
                    indices.append(QualityIndex.compute(
                        hotel: hotel, month: String(first.description.prefix(7)), totals: report.totals, days: query.dayCount,
                        settings: scope.settings.qualityIndex))
                }
                return QualityIndexList(indices: indices)
            }
        }
        api.get("open") { request, context in
            try await scoped(request, context, reads: ["hotel"]) { scope, connection, logger in
                try await OpenComplaints.load(hotels: try scope.hotels().map(\.id), at: scope.now, on: connection, logger: logger)
            }
        }
        api.get("alerts") { request, context in
            try await scoped(request, context, reads: ["hotel", "state"]) { scope, connection, logger in
                let state = scope.parameters["state"] ?? "active"
                guard ["active", "all"].contains(state) else {
                    throw Problem.validation(field: "query.state", rule: "must be active or all")
                }
                return AlertList(alerts: try await AlertStore.list(
                    hotels: try scope.hotels().map(\.id), activeOnly: state == "active", on: connection, logger: logger))
            }
        }
        api.get("live") { request, context -> Response in
            guard let feed = feedLookup() else { throw Problem.unavailable("the live stream is not running") }
            let (caller, parameters, hotels) = try await scoped(request, context, reads: ["hotel"]) { scope, _, _ in
                (scope.caller, scope.parameters, try scope.hotels())
            }
            let secret = try AuthenticationMiddleware.apiKey(request)
            let wanted = Set(hotels.map(\.id))
            // Hotels first seen after the stream opened are still the caller's if the key covers them.
            let explicit = parameters["hotel"]?.isEmpty == false
            // Taken before the head, so a refusal is a 429. The body below finishes it; when the head cannot be
            // written (the client went) the body never runs, and the place goes with the response, which alone
            // holds the subscription (keep it so: one kept elsewhere would hold the key's place until a restart).
            let subscription: LiveFeed.Subscription
            do throws(LiveFeed.TooManyStreams) {
                subscription = try feed.subscribe(keyID: caller.keyID)
            } catch {
                throw Self.tooManyStreams(error)
            }
            let authentication = self.authentication
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
                body: ResponseBody { writer in
                    // However it ends (the reader went, the key no longer allows it, the service stops), the
                    // subscription goes with it.
                    defer { subscription.finish() }
                    // The heartbeat's interval (METRICS_LIVE_HEARTBEAT_SECONDS, up to 300 s): the dashboard waits
                    // about three of them before it takes a silent stream for dead.
                    let heartbeatSeconds = max(1, feed.heartbeat.components.seconds)
                    try await writer.write(ByteBuffer(string: "retry: 2000\n: connected heartbeat=\(heartbeatSeconds)\n\n"))
                    var caller = caller
                    // The server's graceful shutdown waits for open responses, and this one would only end with
                    // the connection: end it as soon as the shutdown begins, so the stage stops promptly.
                    try await withGracefulShutdownHandler {
                        for await message in subscription {
                            switch message {
                            case .heartbeat:
                                // The key again (from the key cache, so cheap): revoked, no longer a manager's, or no
                                // longer covering a hotel the stream names, and the stream ends.
                                if let current = await Self.recheck(secret, authentication: authentication) {
                                    guard let current, current.role >= .manager, !explicit || wanted.allSatisfy(current.covers(hotel:)) else {
                                        return
                                    }
                                    caller = current
                                }
                                try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                            case .resync:
                                try await writer.write(ByteBuffer(string: "event: resync\ndata: {}\n\n"))
                            case .update(let update):
                                guard explicit ? wanted.contains(update.hotelId) : caller.covers(hotel: update.hotelId) else { continue }
                                try await writer.write(ByteBuffer(string: "event: \(update.topic)\ndata: \(update.json)\n\n"))
                            }
                        }
                    } onGracefulShutdown: {
                        subscription.finish()
                    }
                    try await writer.finish(nil)
                })
        }
    }

    /// The caller `secret` identifies now (`.some(nil)`: unknown or revoked), or `nil` when PostgreSQL
    /// could not tell (the stream carries on and asks again at the next heartbeat).
    static func recheck(_ secret: APIKeySecret, authentication: AuthenticationMiddleware) async -> Caller?? {
        do {
            return .some(try await authentication.database.run {
                try await authentication.keys.authenticate(secret, client: authentication.client, logger: authentication.logger)
            })
        } catch {
            authentication.logger.debug("live stream: the key could not be checked again; next heartbeat retries", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// 429 for a stream over a limit, with the time after which one may have closed.
    static func tooManyStreams(_ refusal: LiveFeed.TooManyStreams) -> Problem {
        var problem = Problem(
            .tooManyRequests, type: "too-many-streams", title: "Too many live streams",
            detail: "\(refusal.description); close one or retry after \(liveRetryAfterSeconds) s")
        problem.headers[.retryAfter] = "\(liveRetryAfterSeconds)"
        return problem
    }

    /// Retry-After of a refused stream.
    static let liveRetryAfterSeconds = 30

    /// What every route of the API starts from: the caller (a manager or admin key), the query, the
    /// settings in force, the time, and the hotels the service knows.
    struct Scope: Sendable {
        var caller: Caller
        var parameters: [String: String]
        var settings: MetricsSettings
        var now: Date
        var lookup: KPIRequest

        /// The hotels `hotel=` names (403 outside the key's scope, 422 unknown), or all the key covers.
        func hotels(all: Bool = false) throws(Problem) -> [MetricsSettings.Hotel] {
            try lookup.hotels(all ? nil : parameters["hotel"], caller: caller)
        }
    }

    /// Authenticates the caller as a manager or admin and runs `body` in a read transaction with its ``Scope``;
    /// a query parameter not in `reads` is a 422 naming it (a misspelt filter was ignored: unfiltered figures).
    private func scoped<Result: Sendable>(
        _ request: Request, _ context: RedressRequestContext, reads: Set<String>,
        _ body: @escaping @Sendable (Scope, PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        let caller = try context.caller(atLeast: .manager, for: request)
        // A NUL in a value (`department` is bound as text) is a 422 naming it, not PostgreSQL's 22021 as a 500;
        // so is a parameter given twice (`hotel=A&hotel=B` answered for A alone, as if that had been asked).
        let parameters = try QueryParameters(request.uri.queryParameters, known: reads, refusingRepeats: true).checked()
        let current = settings.current, now = clock()
        return try await read { connection, logger in
            let lookup = KPIRequest(settings: current, seenHotels: try await Self.seenHotels(connection, logger), now: now)
            return try await body(
                Scope(caller: caller, parameters: parameters, settings: current, now: now, lookup: lookup), connection, logger)
        }
    }

    static func seenHotels(_ connection: PostgresConnection, _ logger: Logger) async throws -> Set<String> {
        var seen: Set<String> = []
        for try await id in try await connection.query("SELECT hotel_id FROM hotels", logger: logger).decode(String.self) { seen.insert(id) }
        return seen
    }

    /// The first and last day of `text` (YYYY-MM), or of the current month.
    static func month(_ text: String?, today: LocalDate, calendar: ZonedCalendar) throws(Problem) -> (LocalDate, LocalDate) {
        var year = today.year, month = today.month
        if let text, !text.isEmpty {
            // ASCII digits only, as openapi.yaml's pattern says: Int("+202") parses, so `+202-11` was the year 202.
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0].count == 4, parts[1].count == 2,
                  parts.allSatisfy({ $0.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } }),
                  let y = Int(parts[0]), let m = Int(parts[1]), (1...12).contains(m) else {
                throw Problem.validation(field: "query.month", rule: "must be a month YYYY-MM")
            }
            year = y
            month = m
        }
        let first = LocalDate(year: year, month: month, day: 1)
        let next = LocalDate(year: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1)
        return (first, calendar.day(next, plus: -1) ?? first)
    }

    private func read<Result: Sendable>(_ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result) async throws -> Result {
        let store = self.store
        return try await database.run { try await store.read(body) }
    }
}

/// `/v1/hotels`: the hotels a key may see, with what the dashboard needs to show them.
struct HotelList: ResponseEncodable, Sendable {
    struct Entry: Codable, Sendable {
        var id: String
        var name: String
        var timeZone: String
        var language: String
        init(_ hotel: MetricsSettings.Hotel) {
            id = hotel.id
            name = hotel.name
            timeZone = hotel.timeZone.identifier
            language = hotel.language
        }
    }
    var hotels: [Entry]
}

/// `/v1/quality-index`: one index per hotel.
struct QualityIndexList: ResponseEncodable, Sendable {
    var indices: [QualityIndex]
}

extension KPIReport: ResponseEncodable {}
extension OpenComplaints: ResponseEncodable {}
extension AlertList: ResponseEncodable {}
