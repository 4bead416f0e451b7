import Access
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
/// Every request: API key (401) and rate limit per key (429) from the shared access layer's
/// ``Access/AuthenticationMiddleware`` → role (403) → body (415, 413, 400, 422) → the work in one
/// transaction on intake's schema, bounded by the ``Access/DatabaseGuard`` (503 when PostgreSQL is
/// unreachable). Another hotel's complaint is answered exactly like a missing one (404). Errors are
/// thrown as ``Access/Problem``s; ``Access/ProblemMiddleware`` renders whatever else goes wrong.
public struct IntakeAPI: Sendable {
    public var configuration: IntakeConfiguration
    public var store: StageStore
    public var database: DatabaseGuard
    public var authentication: AuthenticationMiddleware

    var registrar: ComplaintRegistrar
    var actions: ComplaintActions
    var queries: ComplaintQueries
    var reader: RequestReader

    public init(configuration: IntakeConfiguration, store: StageStore, database: DatabaseGuard, authentication: AuthenticationMiddleware) {
        self.configuration = configuration
        self.store = store
        self.database = database
        self.authentication = authentication
        self.registrar = ComplaintRegistrar(guestKeyer: GuestKeyer(secret: configuration.guestKeySecret), topics: configuration.topics)
        self.actions = ComplaintActions(authority: configuration.authority, topics: configuration.topics)
        self.queries = ComplaintQueries()
        self.reader = RequestReader(maximumBodySize: configuration.maximumBodySize)
    }

    public func addRoutes(to router: Router<RedressRequestContext>) {
        SurveyRoutes(secret: configuration.surveySecret, store: store, database: database, actions: actions).add(to: router)
        let complaints = router.group("v1/complaints").add(middleware: authentication)
        complaints.post { request, context in
            try await mappingErrors { try await submit(request, caller: try context.caller(atLeast: .publisher, for: request)) }
        }
        complaints.get { request, context in
            // A publisher may look up what it published by its own id; everything else needs staff.
            try await mappingErrors { try await list(request, caller: try context.caller(atLeast: .publisher, for: request)) }
        }
        complaints.get(":id") { request, context in
            try await mappingErrors {
                let caller = try context.caller(atLeast: .staff, for: request)
                let id = try reader.uuidParameter("id", context, resource: "complaint")
                let queries = self.queries
                let json = try await database.run {
                    try await store.read { connection, logger in try await queries.complaint(id, for: caller, on: connection, logger: logger) }
                }
                guard let json else { throw Problem.notFound("no complaint \(id.uuidString.lowercased())") }
                return EditedResponse(response: EmbeddedJSON(json))
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
        addAction("wait-for-guest", to: complaints, body: .none) { _ in .waitForGuest }
        addAction("resume", to: complaints, body: .none) { _ in .resume }
        for decision in ["approve", "reject"] {
            complaints.post(":id/compensations/:compensationId/\(decision)") { request, context in
                try await mappingErrors {
                    let caller = try context.caller(atLeast: .staff, for: request)
                    let id = try reader.uuidParameter("id", context, resource: "complaint")
                    let compensationID = try reader.uuidParameter("compensationId", context, resource: "compensation")
                    let bytes = try await reader.jsonBody(request, optional: true)
                    let body = try bytes.map { bytes throws(Problem) in try reader.decode(DecisionBody.self, from: bytes) }
                    if let note = body?.note { try BodyRules.text(note, field: "note", maxLength: 1000) }
                    let action: StaffAction = decision == "approve"
                        ? .approveCompensation(id: compensationID, note: body?.note)
                        : .rejectCompensation(id: compensationID, note: body?.note)
                    return try await perform(action, on: id, caller: caller, request: request, body: bytes, status: .ok)
                }
            }
        }
    }

    private enum BodyKind { case none, required }

    private func addAction(
        _ path: String, to group: RouterGroup<RedressRequestContext>, body: BodyKind, status: HTTPResponse.Status = .ok,
        _ makeAction: @escaping @Sendable ([UInt8]?) throws -> StaffAction
    ) {
        group.post(":id/\(path)") { request, context in
            try await mappingErrors {
                let caller = try context.caller(atLeast: .staff, for: request)
                let id = try reader.uuidParameter("id", context, resource: "complaint")
                let bytes: [UInt8]? = body == .required ? try await reader.jsonBody(request) : nil
                return try await perform(try makeAction(bytes), on: id, caller: caller, request: request, body: bytes, status: status)
            }
        }
    }

    /// Applies `action`, once per `Idempotency-Key` when the request carries one: a repeat answers the
    /// first request's outcome, with the same status and `Idempotent-Replayed: true`, and changes nothing.
    private func perform(
        _ action: StaffAction, on id: UUID, caller: Caller, request: Request, body: [UInt8]?, status: HTTPResponse.Status
    ) async throws -> EditedResponse<ActionOutcome> {
        let traceParent = TraceParent.of(request)
        let actions = self.actions
        let claim = try Self.idempotencyKey(request).map {
            ActionIdempotency.claim(apiKeyID: caller.keyID, key: $0, path: request.uri.path.lowercased(), body: body)
        }
        let idempotency = ActionIdempotency()
        let (outcome, replayed): (ActionOutcome, Bool)
        do {
            (outcome, replayed) = try await database.run {
                try await store.write { connection, logger in
                    if let claim, let earlier = try await idempotency.earlierOutcome(claim, on: connection, logger: logger) {
                        return ((earlier, true), [])
                    }
                    let (outcome, events) = try await actions.apply(action, to: id, by: caller, traceParent: traceParent, on: connection, logger: logger)
                    if let claim { try await idempotency.record(outcome, for: claim, on: connection, logger: logger) }
                    return ((outcome, false), events)
                }
            }
        } catch let error as IdempotencyKeyReused {
            throw Problem.validation(field: "header.Idempotency-Key", rule: "'\(error.key)' was already used for a different request")
        }
        let responseStatus: HTTPResponse.Status = outcome.compensationState == .pending ? .accepted : status
        Counter(label: "redress_intake_actions_total", dimensions: [("action", action.name), ("outcome", replayed ? "replayed" : "applied")]).increment()
        return EditedResponse(status: responseStatus, headers: replayed ? [.idempotentReplayed: "true"] : [:], response: outcome)
    }

    /// The request's `Idempotency-Key`, checked: 1 to 255 visible ASCII characters.
    static func idempotencyKey(_ request: Request) throws(Problem) -> String? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ ("!"..."~").contains($0) }) else {
            throw Problem.validation(field: "header.Idempotency-Key", rule: "must be 1 to 255 visible ASCII characters")
        }
        return key
    }

    // MARK: Submit

    private func submit(_ request: Request, caller: Caller) async throws -> EditedResponse<SubmissionReceipt> {
        let bytes = try await reader.jsonBody(request)!
        let submission = try reader.decode(ComplaintSubmitted.self, from: bytes)
        guard caller.covers(hotel: submission.hotelID) else {
            throw Problem.forbidden("this API key is not scoped to hotel '\(submission.hotelID)'")
        }
        let idempotency = try Self.idempotencyKey(request).map { IdempotencyClaim(apiKeyID: caller.keyID, key: $0, body: bytes) }
        let actor = EventActor(id: caller.name, role: caller.role.actorRole)
        let traceParent = TraceParent.of(request)
        let outcome: RegistrationOutcome
        let registrar = self.registrar
        do {
            outcome = try await database.run {
                try await store.write { connection, logger in
                    let outcome = try await registrar.register(
                        submission, actor: actor, idempotency: idempotency, traceParent: traceParent, on: connection, logger: logger)
                    return (outcome, outcome.events)
                }
            }
        } catch let error as IdempotencyKeyReused {
            throw Problem.validation(field: "header.Idempotency-Key", rule: "'\(error.key)' was already used for a different request body")
        } catch let error as ExternalIDReused {
            throw Self.problem(for: error)
        }
        Counter(label: "redress_intake_submissions_total", dimensions: [("door", "http"), ("outcome", outcome.created ? "created" : "replayed")]).increment()
        let id = outcome.complaintID.uuidString.lowercased()
        return EditedResponse(
            status: outcome.created ? .created : .ok, headers: [.location: "/v1/complaints/\(id)"],
            response: SubmissionReceipt(id: outcome.complaintID, status: outcome.created ? "created" : "existing"))
    }

    // MARK: List

    private func list(_ request: Request, caller: Caller) async throws -> ComplaintListPage {
        let query = request.uri.queryParameters
        var filter = ComplaintFilter()
        // An unknown parameter and a value with a NUL are refused here (PostgreSQL would answer 22021, a 422 naming no field).
        let parameters = QueryParameters(query, known: [
            "hotelId", "status", "category", "severity", "channel", "from", "to", "assignee", "limit", "cursor", "source", "externalId",
        ])
        var errors = parameters.errors
        func value<T>(_ name: String, _ parse: (String) -> T?, expected: String) -> T? {
            guard let text = parameters[name] else { return nil }
            guard let parsed = parse(text) else {
                errors.append(.init(field: "query.\(name)", rule: expected))
                return nil
            }
            return parsed
        }
        filter.hotelID = value("hotelId", { $0.isEmpty || $0.count > 64 ? nil : $0 }, expected: "a hotel id")
        filter.status = value("status", IntakeStatus.init(rawValue:), expected: "one of \(IntakeStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        filter.category = value("category", ComplaintCategory.init(rawValue:), expected: "one of \(ComplaintCategory.allCases.map(\.rawValue).joined(separator: ", "))")
        filter.severity = value("severity", Severity.init(rawValue:), expected: "one of minor, moderate, serious")
        filter.channel = value("channel", ComplaintChannel.init(rawValue:), expected: "one of \(ComplaintChannel.allCases.map(\.rawValue).joined(separator: ", "))")
        filter.from = value("from", EventTimestamp.date(from:), expected: "an RFC 3339 date-time such as 2026-03-01T00:00:00Z")
        filter.to = value("to", EventTimestamp.date(from:), expected: "an RFC 3339 date-time such as 2026-03-31T00:00:00Z")
        filter.assigneeID = value("assignee", { $0.isEmpty || $0.count > 64 ? nil : $0 }, expected: "a staff id")
        filter.limit = value("limit", { Int($0).flatMap { (1...200).contains($0) ? $0 : nil } }, expected: "an integer from 1 to 200") ?? 50
        filter.cursor = value("cursor", PageCursor.init(token:), expected: "a nextCursor value from an earlier page")
        // The publishing system's own id: source and externalId name one complaint per hotel, so
        // they come together.
        filter.source = value("source", { $0.isEmpty || $0.count > 64 ? nil : $0 }, expected: "the publishing system's source name")
        filter.externalID = value("externalId", { $0.isEmpty || $0.count > 128 ? nil : $0 }, expected: "the publishing system's own id")
        if (query.get("source") == nil) != (query.get("externalId") == nil) {
            let missing = query.get("source") == nil ? "source" : "externalId"
            errors.append(.init(field: "query.\(missing)", rule: "source and externalId are given together"))
        }
        if !errors.isEmpty { throw Problem.validation(errors) }
        if caller.role < .staff && filter.source == nil {
            throw Problem.forbidden("role \(caller.role.rawValue) may only look up complaints by source and externalId")
        }
        if let hotel = filter.hotelID, !caller.covers(hotel: hotel) {
            // Another hotel's complaints are invisible, not forbidden: the page is simply empty.
            return ComplaintListPage(items: [], nextCursor: nil)
        }
        let finalFilter = filter
        let queries = self.queries
        let page = try await database.run {
            try await store.read { connection, logger in try await queries.list(finalFilter, for: caller, on: connection, logger: logger) }
        }
        return ComplaintListPage(items: page.itemsJSON.map(EmbeddedJSON.init), nextCursor: page.nextCursor?.token)
    }

    // MARK: Plumbing

    /// Runs a route's work, turning intake's domain errors into problems; everything else goes on to
    /// ``Access/ProblemMiddleware``.
    private func mappingErrors<Value: ResponseGenerator>(_ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch let error as ActionError {
            throw Self.problem(for: error)
        } catch let error where PostgresErrorClassifier.sqlState(of: error)?.hasPrefix("22") == true {
            // A data exception: a value PostgreSQL cannot store slipped past validation.
            let state = PostgresErrorClassifier.sqlState(of: error) ?? "22000"
            throw Problem.validation(field: "", rule: "a value cannot be stored (SQLSTATE \(state))")
        }
    }

    /// Another complaint under a hotel + source + externalId already registered: a conflict with what
    /// exists (409), not a rule the body breaks (the 422 of an Idempotency-Key reused for another body
    /// names a header the client chose for that one request). It names the field and the complaint.
    static func problem(for error: ExternalIDReused) -> Problem {
        var problem = Problem(
            .conflict, type: "external-id-conflict", title: "externalId already registered",
            detail: "externalId '\(error.externalID)' of this source and hotel is already registered with different content",
            errors: [.init(field: "externalId", rule: ExternalIDReused.reason)])
        problem.extensions["complaintId"] = error.complaintID.uuidString.lowercased()
        return problem
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
        case .compensationPending(let id):
            // Like an illegal transition (the complaint's status allows closing, its compensation not yet).
            var problem = Problem(.conflict, type: "compensation-pending", title: "A compensation awaits a decision",
                                  detail: "close is not possible while compensation \(id.uuidString.lowercased()) is pending; approve or reject it first")
            problem.extensions["action"] = "close"
            problem.extensions["currentStatus"] = IntakeStatus.resolved.rawValue
            problem.extensions["compensationId"] = id.uuidString.lowercased()
            problem.extensions["compensationState"] = CompensationState.pending.rawValue
            return problem
        case .followUpRecorded(let at):
            var problem = Problem(.conflict, type: "follow-up-recorded", title: "Follow-up already recorded",
                                  detail: "a follow-up was already recorded for this resolution (at \(EventTimestamp.string(from: at))); one per resolution")
            problem.extensions["action"] = "follow-up"
            problem.extensions["currentStatus"] = IntakeStatus.resolved.rawValue
            problem.extensions["followUpRecordedAt"] = EventTimestamp.string(from: at)
            return problem
        }
    }
}

/// The answer to `POST /v1/complaints`: the complaint's id and whether it was new.
struct SubmissionReceipt: Codable, Sendable, ResponseEncodable {
    var id: UUID
    var status: String
}

/// A page of `GET /v1/complaints`: items as PostgreSQL built them, and the cursor of the next page.
struct ComplaintListPage: Encodable, Sendable, ResponseEncodable {
    var items: [EmbeddedJSON]
    var nextCursor: String?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        // Always present, `null` on the last page (the OpenAPI document says so).
        try container.encode(nextCursor, forKey: .nextCursor)
    }

    enum CodingKeys: String, CodingKey { case items, nextCursor }
}

extension ActionOutcome: ResponseEncodable {}
extension EmbeddedJSON: ResponseEncodable {}
