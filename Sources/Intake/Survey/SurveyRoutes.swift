import Access
import ComplaintEvents
import ComplaintPipeline
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import PostgresNIO

/// The guest's follow-up survey at `/survey/{token}`: no API key, the signed token is the credential
/// (``Access/SurveyToken``, from the link the notifier sent). `GET` shows the questions in the guest's
/// language; `POST` records the answer once through intake's own follow-up action, so a dissatisfied
/// guest reopens the complaint exactly as a staff-recorded follow-up would. A used, expired or altered
/// link, a link of a resolution whose follow-up is already recorded, and a link of an earlier resolution
/// (the complaint was reopened and resolved again since) get a page that says so and change nothing.
struct SurveyRoutes: Sendable {
    var secret: String?
    var store: StageStore
    var database: DatabaseGuard
    var actions: ComplaintActions

    /// The guest, as the timeline and `complaints.updated.v1` name them.
    static let guestActor = EventActor(id: "guest", role: .guest)

    func add(to router: Router<RedressRequestContext>) {
        router.get("survey/:token") { request, context in
            let language = Self.browserLanguage(request)
            return try await Self.pageOnError(language: language) {
                try await show(token: context.parameters.get("token") ?? "", browserLanguage: language)
            }
        }
        router.post("survey/:token") { request, context in
            let language = Self.browserLanguage(request)
            return try await Self.pageOnError(language: language) {
                let body = try await request.body.collect(upTo: Self.maximumFormSize)
                return try await answer(token: context.parameters.get("token") ?? "", form: String(buffer: body), browserLanguage: language)
            }
        }
    }

    /// The largest survey form accepted (a comment of 2,000 characters, percent-encoded, fits).
    static let maximumFormSize = 16 * 1024

    /// A guest's browser gets a page, not problem+json: the database away (503, with its `Retry-After`)
    /// and a form over ``maximumFormSize`` (413) are shown as the survey's own page. Anything else goes
    /// on to ``Access/ProblemMiddleware``.
    static func pageOnError(language: String, _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let problem as Problem where problem.status == .serviceUnavailable {
            var page = Self.page(.unavailable, language: language, reference: nil, action: "", status: .serviceUnavailable)
            if let retryAfter = problem.headers[.retryAfter] { page.headers[.retryAfter] = retryAfter }
            return page
        } catch is NIOTooManyBytesError {
            return Self.page(.tooLarge, language: language, reference: nil, action: "", status: .contentTooLarge)
        }
    }

    struct ComplaintState: Sendable {
        var hotel: String
        var status: IntakeStatus
        var language: String
        /// This link was answered.
        var answered: Bool
        /// A follow-up (by any link, or by staff) is recorded since the complaint was last resolved.
        var followedUp: Bool
        var resolutions: Resolutions
    }

    /// The complaint's resolutions as its timeline has them: how many, and when the last was recorded.
    struct Resolutions: Sendable, Hashable {
        var count: Int
        /// The last `resolved` entry's time, in Unix milliseconds.
        var latest: Int64?

        /// Whether `token` asks about the complaint's latest resolution. A `v2` token names its
        /// resolution's time: the latest's, give or take the millisecond the notifier's copy may be
        /// rounded by (it read intake's microseconds; two resolutions are never that close). A `v1`
        /// token names none: it can only be for the latest while there has been just one.
        func asksAbout(_ token: SurveyToken) -> Bool {
            guard let resolvedAt = token.resolvedAt else { return count <= 1 }
            guard let latest else { return false }
            return abs(latest - SurveyToken.milliseconds(resolvedAt)) <= 1
        }

        static func of(_ complaintID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Resolutions {
            let rows = try await connection.query("""
                SELECT count(*)::bigint,
                       (array_agg(floor(extract(epoch FROM occurred_at) * 1000)::bigint ORDER BY id DESC))[1]
                FROM timeline WHERE complaint_id = \(complaintID) AND kind = \(ComplaintUpdated.Kind.resolved.rawValue)
                """, logger: logger)
            for try await (count, latest) in rows.decode((Int64, Int64?).self) { return Resolutions(count: Int(count), latest: latest) }
            return Resolutions(count: 0, latest: nil)
        }
    }

    private func state(of token: SurveyToken) async throws -> ComplaintState? {
        let signature = token.signature
        let id = token.complaintID
        return try await database.run {
            try await store.read { connection, logger in
                let rows = try await connection.query("""
                    SELECT hotel_id, status, COALESCE(guest->>'preferredLanguage', language),
                           EXISTS (SELECT 1 FROM survey_answers WHERE token_signature = \(signature))
                    FROM complaints WHERE id = \(id)
                    """, logger: logger)
                var found: ComplaintState?
                for try await (hotel, status, language, answered) in rows.decode((String, String, String?, Bool).self) {
                    found = ComplaintState(
                        hotel: hotel, status: IntakeStatus(rawValue: status) ?? .received, language: SurveyPage.language(for: language),
                        answered: answered, followedUp: false, resolutions: Resolutions(count: 0, latest: nil))
                }
                guard var state = found else { return nil }
                state.followedUp = try await ComplaintActions.followUpSinceResolved(complaintID: id, on: connection, logger: logger) != nil
                state.resolutions = try await Resolutions.of(id, on: connection, logger: logger)
                return state
            }
        }
    }

    /// The page language when no complaint can be trusted: the browser's first `Accept-Language`.
    static func browserLanguage(_ request: Request) -> String {
        // Up to the first ',' and then the first ';' ("zh-CN;q=0.9, en" → "zh-CN"); a header of
        // only separators (";", ",;") names no language.
        let first = request.headers[.acceptLanguage]?.prefix { $0 != "," }.prefix { $0 != ";" }
        return SurveyPage.language(for: first?.trimmingCharacters(in: .whitespaces))
    }

    /// A usable token and its complaint, or the page to show instead of the form.
    private enum Checked {
        case usable(SurveyToken, ComplaintState)
        case refused(Response)
    }

    /// Checks the token once (signature, expiry, complaint, not answered, its resolution the latest, still resolved).
    private func check(_ text: String, browserLanguage: String) async throws -> Checked {
        guard let secret else { return .refused(Self.page(.disabled, language: browserLanguage, reference: nil, action: "", status: .notFound)) }
        let token: SurveyToken
        do {
            token = try SurveyToken(verifying: text, secret: secret)
        } catch .expired {
            // The id is still readable for the language of the page.
            return .refused(Self.page(.expired, language: try await language(ofUnverified: text), reference: nil, action: "", status: .gone))
        } catch {
            Counter(label: "redress_intake_survey_refusals_total", dimensions: [("reason", "\(error)")]).increment()
            return .refused(Self.page(.invalid, language: browserLanguage, reference: nil, action: "", status: .notFound))
        }
        guard let state = try await state(of: token) else {
            return .refused(Self.page(.invalid, language: browserLanguage, reference: nil, action: "", status: .notFound))
        }
        let reference = Self.reference(token.complaintID)
        if state.answered { return .refused(Self.page(.alreadyAnswered, language: state.language, reference: reference, action: "", status: .conflict)) }
        // A link of an earlier resolution: the complaint was reopened and resolved again, and that
        // resolution has (or will have) its own survey. It never answers the newer one.
        if !state.resolutions.asksAbout(token) { return .refused(Self.earlierResolution(language: state.language, reference: reference)) }
        if state.status != .resolved { return .refused(Self.page(.closed, language: state.language, reference: reference, action: "", status: .conflict)) }
        // One follow-up per resolution: a second link of the same resolution finds its follow-up already recorded.
        if state.followedUp { return .refused(Self.page(.alreadyAnswered, language: state.language, reference: reference, action: "", status: .conflict)) }
        return .usable(token, state)
    }

    /// An expired token's complaint language (its signature was checked: only the expiry failed).
    private func language(ofUnverified text: String) async throws -> String {
        guard let secret, let token = try? SurveyToken(verifying: text, secret: secret, now: .distantPast),
              let state = try await state(of: token) else { return "en" }
        return state.language
    }

    func show(token text: String, browserLanguage: String) async throws -> Response {
        let (token, state): (SurveyToken, ComplaintState)
        switch try await check(text, browserLanguage: browserLanguage) {
        case .refused(let page): return page
        case .usable(let usable, let found): (token, state) = (usable, found)
        }
        return Self.page(
            .form(errors: [], satisfaction: nil, recommend: nil, comment: ""), language: state.language,
            reference: Self.reference(token.complaintID), action: "/survey/\(text)", status: .ok)
    }

    struct Form: Decodable {
        var satisfaction: String?
        var recommend: String?
        var comment: String?
    }

    /// The transaction found the survey answered meanwhile, the complaint no longer resolved, or resolved again.
    private struct Refused: Error {
        var page: SurveyPage.Kind
        var status: HTTPResponse.Status = .conflict
    }

    /// The page for a link of an earlier resolution (`410`: this link is done with, as an expired one).
    static func earlierResolution(language: String, reference: String) -> Response {
        Counter(label: "redress_intake_survey_refusals_total", dimensions: [("reason", "earlier_resolution")]).increment()
        return Self.page(.earlierResolution, language: language, reference: reference, action: "", status: .gone)
    }

    func answer(token text: String, form body: String, browserLanguage: String) async throws -> Response {
        let (token, state): (SurveyToken, ComplaintState)
        switch try await check(text, browserLanguage: browserLanguage) {
        case .refused(let page): return page
        case .usable(let usable, let found): (token, state) = (usable, found)
        }
        let words = state.language == "zh-CN" ? SurveyPage.Strings.chinese : SurveyPage.Strings.english
        let form = (try? URLEncodedFormDecoder().decode(Form.self, from: body)) ?? Form()
        let satisfaction = form.satisfaction.flatMap { Int($0) }.flatMap { (1...5).contains($0) ? $0 : nil }
        let recommend = form.recommend.flatMap { Int($0) }.flatMap { (0...10).contains($0) ? $0 : nil }
        // No one types NUL into a form, and no event text may hold it: dropped, not refused.
        let comment = (form.comment ?? "").replacingOccurrences(of: "\0", with: "").trimmingCharacters(in: .whitespacesAndNewlines)
        var errors: [String] = []
        if satisfaction == nil { errors.append(words["errorSatisfaction"]!) }
        if recommend == nil { errors.append(words["errorRecommend"]!) }
        // Counted as the event's rules count, in Unicode scalars (👍🏽 is two).
        if comment.unicodeScalars.count > 2000 { errors.append(words["errorComment"]!) }
        let reference = Self.reference(token.complaintID)
        guard let satisfaction, let recommend, errors.isEmpty else {
            return Self.page(
                .form(errors: errors, satisfaction: satisfaction, recommend: recommend, comment: comment), language: state.language,
                reference: reference, action: "/survey/\(text)", status: .unprocessableContent)
        }

        let followUp = FollowUp(satisfaction: satisfaction, nps: recommend, comment: comment.isEmpty ? nil : comment)
        let caller = Caller(keyID: "survey", name: "guest-survey", role: .staff, hotels: [state.hotel])
        let actions = self.actions
        let signature = token.signature
        let id = token.complaintID
        do {
            let reopened = try await database.run {
                try await store.write { connection, logger in
                    // Under the complaint's lock, the resolution the link asks about must still be the
                    // latest: a reopening and resolution since the check would otherwise take this answer.
                    _ = try await connection.query("SELECT 1 FROM complaints WHERE id = \(id) FOR UPDATE", logger: logger).collect()
                    guard try await Resolutions.of(id, on: connection, logger: logger).asksAbout(token) else {
                        throw Refused(page: .earlierResolution, status: .gone)
                    }
                    let inserted = try await connection.query("""
                        INSERT INTO survey_answers (token_signature, complaint_id, satisfaction, recommend)
                        VALUES (\(signature), \(id), \(satisfaction), \(recommend)) ON CONFLICT DO NOTHING RETURNING 1
                        """, logger: logger).collect()
                    guard !inserted.isEmpty else { throw Refused(page: .alreadyAnswered) }
                    do {
                        let (outcome, events) = try await actions.apply(
                            .recordFollowUp(followUp), to: id, by: caller, actor: Self.guestActor, on: connection, logger: logger)
                        return (outcome.status == .reopened, events)
                    } catch ActionError.illegalTransition {
                        throw Refused(page: .closed)
                    } catch ActionError.followUpRecorded {
                        throw Refused(page: .alreadyAnswered)
                    }
                }
            }
            Counter(label: "redress_intake_survey_answers_total", dimensions: [("reopened", "\(reopened)")]).increment()
            return Self.page(.thanks(reopened: reopened), language: state.language, reference: reference, action: "", status: .ok)
        } catch let refused as Refused {
            if case .earlierResolution = refused.page { return Self.earlierResolution(language: state.language, reference: reference) }
            return Self.page(refused.page, language: state.language, reference: reference, action: "", status: refused.status)
        }
    }

    static func reference(_ id: UUID) -> String { String(id.uuidString.prefix(8)).uppercased() }

    static func page(_ kind: SurveyPage.Kind, language: String, reference: String?, action: String, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // The token is in the URL: never send it on as a referrer; the page loads nothing from anywhere.
        headers[.init("Referrer-Policy")!] = "no-referrer"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
        let html = SurveyPage.render(kind, language: language, reference: reference, action: action)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
