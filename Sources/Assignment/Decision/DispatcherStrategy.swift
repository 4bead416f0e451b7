import AsyncHTTPClient
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// What the group's dispatcher said, asked before the assignment transaction opens.
public enum DispatcherAnswer: Sendable, Hashable {
    /// It named someone, with its reason if it gave one.
    case chose(staffID: String, reason: String?)
    /// No usable answer: timeout, refused connection, non-2xx status, malformed body.
    case failed(String)
    /// Not asked: it failed too often in a row, and its circuit breaker is open.
    case skipped(CircuitBreaker.Skipped)
    /// Not asked, for the reason given: the choice is made where the dispatcher may not be called (inside
    /// the transaction, as when a reopened complaint's owner has left the staff), or when the verdict
    /// was prepared it was not to be (its department not on `http` or without candidates then, or the
    /// complaint had an owner who keeps it). `nil` instead of an answer: no dispatcher is configured.
    case notAsked(String)
}

/// Strategy `http`: the hotel group's own dispatcher decides; when it cannot (no answer in time, or it
/// names someone who is not eligible right now), the configured built-in strategy does, and the
/// explanation says why.
public struct DispatcherStrategy: AssignmentStrategy {
    public static let name = "http"
    public var name: String { Self.name }
    public let fallback: any AssignmentStrategy

    public init(fallback: any AssignmentStrategy) {
        self.fallback = fallback
    }

    public func choose(_ request: StrategyRequest) -> StrategyChoice {
        let why: String
        switch request.dispatcherAnswer {
        case .chose(let staffID, let reason):
            if request.candidates.contains(where: { $0.member.id == staffID }) {
                let detail = reason.map { ": \($0.prefix(200))" } ?? ""
                return StrategyChoice(staffID: staffID, strategy: name, explanation: "chosen by the group dispatcher of \(request.pool)\(detail)")
            }
            why = "the dispatcher named \(staffID.prefix(64)), who is not on duty with capacity"
        case .failed(let reason):
            why = "the dispatcher failed (\(reason))"
        case .skipped(let skipped):
            why = "the dispatcher is skipped \(skipped)"
        case .notAsked(let reason):
            why = "the dispatcher was not asked (\(reason))"
        case nil:
            why = "no dispatcher is configured"
        }
        var choice = fallback.choose(request)
        choice.explanation = "\(why); \(choice.explanation)"
        return choice
    }
}

/// Asks the group's dispatcher which candidate should take a complaint: `POST` of the complaint and the
/// candidates as JSON, answer `{"staffId": "…", "reason": "…"}` within the configured timeout. After
/// failures in a row its ``breaker`` skips it for a while (``DispatcherAnswer/skipped(_:)``), so a
/// dispatcher that is down or hanging does not cost every complaint the whole timeout.
public struct DispatcherClient: Sendable {
    public var settings: DispatcherSettings
    public var client: HTTPClient
    public var logger: Logger
    /// Shared by every copy of the client (one per service): `outside_call_circuit_open{service="assignment",target="dispatcher"}`.
    public var breaker: CircuitBreaker
    static let maximumResponseSize = 64 * 1024

    public init(settings: DispatcherSettings, client: HTTPClient = .outbound, breaker: CircuitBreaker? = nil, logger: Logger) {
        self.settings = settings
        self.client = client
        self.logger = logger
        self.breaker = breaker ?? CircuitBreaker(service: "assignment", target: "dispatcher", logger: logger)
    }

    struct Question: Encodable {
        struct Person: Encodable {
            var staffId: String
            var name: String
            var role: String
            var languages: [String]
            var skills: [String]
            var openLoad: Int
            var capacity: Int
        }

        var complaintId: String
        var hotelId: String
        var department: String
        var category: String
        var severity: String
        var priority: Int
        var language: String
        var vip: Bool
        var candidates: [Person]
    }

    struct Reply: Decodable {
        var staffId: String
        var reason: String?
    }

    /// The dispatcher's answer; never throws (a failure is an answer the strategy falls back on). While
    /// the breaker is open the dispatcher is not asked and the answer is ``DispatcherAnswer/skipped(_:)``.
    public func ask(_ facts: ComplaintFacts, department: Department, candidates: [Candidate]) async -> DispatcherAnswer {
        let outcome = await breaker.call({ await exchange(facts, department: department, candidates: candidates) }) { answer in
            if case .chose = answer { return true }
            return false
        }
        switch outcome {
        case .success(let answer): return answer
        case .failure(let skipped): return .skipped(skipped)
        }
    }

    /// One call to the dispatcher.
    func exchange(_ facts: ComplaintFacts, department: Department, candidates: [Candidate]) async -> DispatcherAnswer {
        let question = Question(
            complaintId: facts.complaintID.lowercasedString, hotelId: facts.hotelID, department: department.code,
            category: facts.category.rawValue, severity: facts.severity.rawValue, priority: facts.priority, language: facts.language,
            vip: facts.isVIP,
            candidates: candidates.map {
                Question.Person(
                    staffId: $0.member.id, name: $0.member.name, role: $0.member.role.rawValue, languages: $0.member.languages,
                    skills: $0.member.skills, openLoad: $0.openLoad, capacity: $0.member.capacity)
            })
        do {
            var request = HTTPClientRequest(url: settings.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try EventCoding.write(question)))
            // The whole exchange, body included, within the timeout (the client's own ends with the headers).
            let response = try await client.boundedExchange(
                request, timeout: .milliseconds(settings.timeoutMilliseconds), maximumBodySize: Self.maximumResponseSize, logger: logger)
            guard (200..<300).contains(response.status) else {
                return .failed("HTTP \(response.status)")
            }
            guard !response.isTruncated, let reply = try? JSONDecoder().decode(Reply.self, from: Data(response.body.readableBytesView)) else {
                return .failed("the answer is not {\"staffId\": …}")
            }
            return .chose(staffID: reply.staffId, reason: reply.reason)
        } catch is DeadlineExceeded {
            return .failed("no answer within \(settings.timeoutMilliseconds) ms")
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            return .failed("no answer within \(settings.timeoutMilliseconds) ms")
        } catch {
            logger.warning("assignment dispatcher failed", metadata: ["error": "\(error)"])
            return .failed("\(String(describing: error).prefix(120))")
        }
    }
}
