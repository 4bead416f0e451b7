import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import PostgresNIO

/// The HTTP API of intake (`/v1/complaints…`), documented in `services/intake/openapi.yaml`.
///
/// Every request: API key (401) → rate limit per key (429) → role (403) → body (415, 413, 400,
/// 422) → the work in one transaction, bounded by ``IntakeConfiguration/databaseTimeout`` (503 when
/// PostgreSQL is unreachable). Another hotel's complaint is answered exactly like a missing one (404).
public struct IntakeAPI: Sendable {
    public var configuration: IntakeConfiguration
    public var client: PostgresClient
    public var keys: APIKeyStore
    public var limiter: RateLimiter
    public var logger: Logger

    var registrar: ComplaintRegistrar
    var actions: ComplaintActions
    var queries: ComplaintQueries
    var reader: RequestReader

    public init(configuration: IntakeConfiguration, client: PostgresClient, logger: Logger) {
        self.configuration = configuration
        self.client = client
        self.logger = logger
        self.keys = APIKeyStore(schema: configuration.schema, cacheLifetime: configuration.keyCacheLifetime)
        self.limiter = RateLimiter(defaultRate: configuration.ratePerSecond)
        self.registrar = ComplaintRegistrar(schema: configuration.schema, guestKeyer: GuestKeyer(secret: configuration.guestKeySecret), topics: configuration.topics)
        self.actions = ComplaintActions(schema: configuration.schema, authority: configuration.authority, topics: configuration.topics)
        self.queries = ComplaintQueries(schema: configuration.schema)
        self.reader = RequestReader(maximumBodySize: configuration.maximumBodySize)
    }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        let complaints = router.group("v1/complaints")
        complaints.post { request, context in
            await respond(request, minimumRole: .publisher) { caller in try await submit(request, caller: caller) }
        }
        complaints.get { request, context in
            await respond(request, minimumRole: .staff) { caller in try await list(request, caller: caller) }
        }
        complaints.get(":id") { request, context in
            await respond(request, minimumRole: .staff) { caller in
                let id = try reader.uuidParameter("id", context)
                guard let json = try await withDatabase({ try await queries.complaint(id, for: caller, client: client, logger: logger) }) else {
                    throw Problem.notFound("no complaint \(id.uuidString.lowercased())")
                }
                return Self.json(json)
            }
        }
        addAction("acknowledge", to: complaints, body: .none) { _ in .acknowledge }
        addAction("notes", to: complaints, body: .required) { bytes in .addNote(try reader.decode(ComplaintNote.self, from: bytes!)) }
        addAction("resolve", to: complaints, body: .required) { bytes in .resolve(try reader.decode(Resolution.self, from: bytes!)) }
        addAction("reopen", to: complaints, body: .required) { bytes in
            let body = try reader.decode(ReopenBody.self, from: bytes!)
            try BodyRules.text(body.reason, field: "reason", maxLength: 1000)
            return .reopen(reason: body.reason)
        }
        addAction("compensations", to: complaints, body: .required, status: .created) { bytes in
            let body = try reader.decode(CompensationRequest.self, from: bytes!)
            try BodyRules.check(body)
            return .requestCompensation(body)
        }
        addAction("follow-up", to: complaints, body: .required) { bytes in .recordFollowUp(try reader.decode(FollowUp.self, from: bytes!)) }
        addAction("close", to: complaints, body: .none) { _ in .close }
        for decision in ["approve", "reject"] {
            complaints.post(":id/compensations/:compensationId/\(decision)") { request, context in
                await respond(request, minimumRole: .staff) { caller in
                    let id = try reader.uuidParameter("id", context)
                    let compensationID = try reader.uuidParameter("compensationId", context)
                    let bytes = try await reader.jsonBody(request, optional: true)
                    let body = try bytes.map { bytes throws(Problem) in try reader.decode(DecisionBody.self, from: bytes) }
                    if let note = body?.note { try BodyRules.text(note, field: "note", maxLength: 1000) }
                    let action: StaffAction = decision == "approve"
                        ? .approveCompensation(id: compensationID, note: body?.note)
                        : .rejectCompensation(id: compensationID, note: body?.note)
                    return try await perform(action, on: id, caller: caller, request: request, status: .ok)
                }
            }
        }
    }

    private enum BodyKind { case none, required }

    private func addAction(
        _ path: String, to group: RouterGroup<BasicRequestContext>, body: BodyKind, status: HTTPResponse.Status = .ok,
        _ makeAction: @escaping @Sendable ([UInt8]?) throws -> StaffAction
    ) {
        group.post(":id/\(path)") { request, context in
            await respond(request, minimumRole: .staff) { caller in
                let id = try reader.uuidParameter("id", context)
                let bytes: [UInt8]? = body == .required ? try await reader.jsonBody(request) : nil
                return try await perform(try makeAction(bytes), on: id, caller: caller, request: request, status: status)
            }
        }
    }

    private func perform(_ action: StaffAction, on id: UUID, caller: Caller, request: Request, status: HTTPResponse.Status) async throws -> Response {
        let traceParent = request.headers[.traceParent]
        let outcome = try await withDatabase {
            try await client.transaction(logger: logger) { connection in
                try await actions.apply(action, to: id, by: caller, traceParent: traceParent, on: connection, logger: logger)
            }
        }
        let responseStatus: HTTPResponse.Status = outcome.compensationState == "pending" ? .accepted : status
        Counter(label: "redress_intake_actions_total", dimensions: [("action", action.name)]).increment()
        return Self.json(try jsonText(outcome), status: responseStatus)
    }

    // MARK: Submit

    private func submit(_ request: Request, caller: Caller) async throws -> Response {
        let bytes = try await reader.jsonBody(request)!
        let submission = try reader.decode(ComplaintSubmitted.self, from: bytes)
        guard caller.covers(hotel: submission.hotelID) else {
            throw Problem.forbidden("this API key is not scoped to hotel '\(submission.hotelID)'")
        }
        var claim: IdempotencyClaim?
        if let key = request.headers[.idempotencyKey] {
            guard (1...255).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ ("!"..."~").contains($0) }) else {
                throw Problem.validation(field: "header.Idempotency-Key", rule: "must be 1 to 255 visible ASCII characters")
            }
            claim = IdempotencyClaim(apiKeyID: caller.keyID, key: key, body: bytes)
        }
        let idempotency = claim
        let actor = EventActor(id: caller.name, role: caller.role.actorRole)
        let traceParent = request.headers[.traceParent]
        let outcome: RegistrationOutcome
        do {
            outcome = try await withDatabase {
                try await client.transaction(logger: logger) { connection in
                    try await registrar.register(submission, actor: actor, idempotency: idempotency, traceParent: traceParent, on: connection, logger: logger)
                }
            }
        } catch let error as IdempotencyKeyReused {
            throw Problem.validation(field: "header.Idempotency-Key", rule: "'\(error.key)' was already used for a different request body")
        }
        Counter(label: "redress_intake_submissions_total", dimensions: [("door", "http"), ("outcome", outcome.created ? "created" : "replayed")]).increment()
        let id = outcome.complaintID.uuidString.lowercased()
        let body = #"{"id":"\#(id)","status":"\#(outcome.created ? "created" : "existing")"}"#
        var response = Self.json(body, status: outcome.created ? .created : .ok)
        response.headers[.location] = "/v1/complaints/\(id)"
        return response
    }

    // MARK: List

    private func list(_ request: Request, caller: Caller) async throws -> Response {
        let query = request.uri.queryParameters
        var filter = ComplaintFilter()
        var errors: [Problem.FieldError] = []
        func value<T>(_ name: String, _ parse: (String) -> T?, expected: String) -> T? {
            guard let text = query.get(name) else { return nil }
            guard let parsed = parse(text) else {
                errors.append(.init(field: "query.\(name)", rule: expected))
                return nil
            }
            return parsed
        }
        let known: Set<String> = ["hotelId", "status", "category", "severity", "channel", "from", "to", "assignee", "limit", "cursor"]
        for (name, _) in query where !known.contains(String(name)) {
            errors.append(.init(field: "query.\(name)", rule: "unknown parameter; use \(known.sorted().joined(separator: ", "))"))
        }
        filter.hotelID = value("hotelId", { $0.isEmpty || $0.count > 64 ? nil : $0 }, expected: "a hotel id")
        filter.status = value("status", IntakeStatus.init(rawValue:), expected: "one of \(IntakeStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        filter.category = value("category", ComplaintCategory.init(rawValue:), expected: "one of \(ComplaintCategory.allCases.map(\.rawValue).joined(separator: ", "))")
        filter.severity = value("severity", Severity.init(rawValue:), expected: "one of minor, moderate, serious")
        filter.channel = value("channel", ComplaintChannel.init(rawValue:), expected: "one of \(ComplaintChannel.allCases.map(\.rawValue).joined(separator: ", "))")
        filter.from = value("from", Self.parseDate, expected: "an RFC 3339 date-time such as 2026-03-01T00:00:00Z")
        filter.to = value("to", Self.parseDate, expected: "an RFC 3339 date-time such as 2026-03-31T00:00:00Z")
        filter.assigneeID = value("assignee", { $0.isEmpty || $0.count > 64 ? nil : $0 }, expected: "a staff id")
        filter.limit = value("limit", { Int($0).flatMap { (1...200).contains($0) ? $0 : nil } }, expected: "an integer from 1 to 200") ?? 50
        filter.cursor = value("cursor", PageCursor.init(token:), expected: "a nextCursor value from an earlier page")
        if !errors.isEmpty { throw Problem.validation(errors) }
        if let hotel = filter.hotelID, !caller.covers(hotel: hotel) {
            // Another hotel's complaints are invisible, not forbidden: the page is simply empty.
            return Self.json(#"{"items":[],"nextCursor":null}"#)
        }
        let finalFilter = filter
        let page = try await withDatabase { try await queries.list(finalFilter, for: caller, client: client, logger: logger) }
        let next = page.nextCursor.map { "\"\($0.token)\"" } ?? "null"
        return Self.json(#"{"items":[\#(page.itemsJSON.joined(separator: ","))],"nextCursor":\#(next)}"#)
    }

    nonisolated(unsafe) private static let dateFormatter: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter
    }()

    nonisolated(unsafe) private static let fractionalDateFormatter: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    static func parseDate(_ text: String) -> Date? {
        dateFormatter.date(from: text) ?? fractionalDateFormatter.date(from: text)
    }

    // MARK: Plumbing

    /// Authenticates, rate-limits and checks the role, runs `body`, and turns every error into a problem.
    private func respond(
        _ request: Request, minimumRole: AccessRole, _ body: (Caller) async throws -> Response
    ) async -> Response {
        let instance = request.uri.path
        do {
            let key = try reader.apiKey(request)
            guard let caller = try await withDatabase({ try await keys.authenticate(key, client: client, logger: logger) }) else {
                throw Problem.unauthorized("the API key is unknown or revoked")
            }
            let decision = limiter.acquire(key: caller.keyID, rate: caller.ratePerSecond)
            guard decision.allowed else { throw Problem.rateLimited(retryAfter: decision.retryAfterSeconds) }
            guard caller.role >= minimumRole else {
                throw Problem.forbidden("role \(caller.role.rawValue) may not \(request.method.rawValue) \(instance)")
            }
            return try await body(caller)
        } catch let problem as Problem {
            return problem.response(instance: instance)
        } catch let error as ActionError {
            return Self.problem(for: error).response(instance: instance)
        } catch let error where PostgresErrorClassifier.sqlState(of: error)?.hasPrefix("22") == true {
            // A data exception: a value PostgreSQL cannot store slipped past validation.
            let state = PostgresErrorClassifier.sqlState(of: error) ?? "22000"
            return Problem.validation(field: "", rule: "a value cannot be stored (SQLSTATE \(state))").response(instance: instance)
        } catch {
            logger.error("request failed", metadata: ["path": "\(instance)", "error": "\(String(reflecting: error))"])
            return Problem(.internalServerError, type: "internal", title: "Internal error",
                           detail: "the request failed unexpectedly; it was logged").response(instance: instance)
        }
    }

    static func problem(for error: ActionError) -> Problem {
        switch error {
        case .complaintNotFound:
            return .notFound("no such complaint")
        case .illegalTransition(let action, let current, let legalFrom):
            var problem = Problem(.conflict, type: "illegal-transition", title: "Not possible in the current status",
                                  detail: "\(action) is not possible while the complaint is \(current.rawValue); it is possible when \(legalFrom.map(\.rawValue).joined(separator: ", "))")
            problem.extensions["currentStatus"] = current.rawValue
            problem.extensions["action"] = action
            return problem
        case .forbidden(let detail):
            return .forbidden(detail)
        case .compensationNotFound(let id):
            return .notFound("no compensation \(id.uuidString.lowercased()) on this complaint")
        case .compensationDecided(let id, let state):
            var problem = Problem(.conflict, type: "compensation-decided", title: "Compensation already decided",
                                  detail: "compensation \(id.uuidString.lowercased()) is already \(state)")
            problem.extensions["compensationState"] = state
            return problem
        }
    }

    /// Runs database work with a deadline; an unreachable or restarting PostgreSQL becomes a 503 with
    /// `Retry-After`, serialisation conflicts are retried twice.
    private func withDatabase<Result: Sendable>(_ work: @escaping @Sendable () async throws -> Result) async throws -> Result {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await withDeadline(configuration.databaseTimeout, work)
            } catch is DeadlineExceeded {
                throw Problem.unavailable("the database did not answer within \(configuration.databaseTimeout)")
            } catch let error where PostgresErrorClassifier.isTransient(error) {
                let state = PostgresErrorClassifier.sqlState(of: error)
                if (state == "40001" || state == "40P01"), attempt < 3 { continue }
                logger.warning("database unavailable", metadata: ["error": "\(String(reflecting: error))"])
                throw Problem.unavailable("the database is unavailable; retry shortly")
            }
        }
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
