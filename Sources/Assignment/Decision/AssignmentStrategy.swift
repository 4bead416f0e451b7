import ComplaintEvents
import Foundation

/// What the assignment service knows about a complaint when it picks an owner.
public struct ComplaintFacts: Sendable, Hashable, Codable {
    public var complaintID: UUID
    public var hotelID: String
    public var category: ComplaintCategory
    public var severity: Severity
    public var priority: Int
    /// The language the guest wrote in (the classifier's detection).
    public var language: String
    public var isVIP: Bool
    public var involvesSafety: Bool
    public var registeredAt: Date

    public init(
        complaintID: UUID, hotelID: String, category: ComplaintCategory, severity: Severity, priority: Int, language: String,
        isVIP: Bool, involvesSafety: Bool, registeredAt: Date
    ) {
        self.complaintID = complaintID
        self.hotelID = hotelID
        self.category = category
        self.severity = severity
        self.priority = priority
        self.language = language
        self.isVIP = isVIP
        self.involvesSafety = involvesSafety
        self.registeredAt = registeredAt
    }

    /// VIP or serious: a supervisor or above must own it.
    public var needsSeniority: Bool { isVIP || severity == .serious }

    /// The skills the language/skill strategy looks for: the category, `vip`, `safety`.
    public var wantedSkills: [String] {
        [category.rawValue] + (isVIP ? ["vip"] : []) + (involvesSafety || severity == .serious ? ["safety"] : [])
    }
}

/// Someone a strategy may choose: on shift now, in the department, senior enough, under capacity.
public struct Candidate: Sendable, Hashable {
    public var member: StaffMember
    /// Open complaints they own now.
    public var openLoad: Int

    public init(member: StaffMember, openLoad: Int) {
        self.member = member
        self.openLoad = openLoad
    }

    /// Open load relative to capacity (0 for an idle person, 1 at capacity).
    var utilisation: Double { member.capacity == 0 ? 1 : Double(openLoad) / Double(member.capacity) }
}

/// The question a strategy answers: which of these candidates takes this complaint.
public struct StrategyRequest: Sendable {
    public var facts: ComplaintFacts
    public var department: Department
    /// Never empty; sorted by staff id.
    public var candidates: [Candidate]
    /// The staff id this department's round robin gave the last complaint to.
    public var lastInTurn: String?
    /// The group dispatcher's answer, asked before the transaction (strategy `http` only).
    public var dispatcherAnswer: DispatcherAnswer?

    public init(facts: ComplaintFacts, department: Department, candidates: [Candidate], lastInTurn: String? = nil, dispatcherAnswer: DispatcherAnswer? = nil) {
        self.facts = facts
        self.department = department
        self.candidates = candidates
        self.lastInTurn = lastInTurn
        self.dispatcherAnswer = dispatcherAnswer
    }

    /// "3 on duty in Housekeeping".
    var pool: String { "\(candidates.count) on duty in \(department.name)" }
}

/// A strategy's pick and its reason, in words for the timeline.
public struct StrategyChoice: Sendable, Hashable {
    public var staffID: String
    /// The strategy that made the choice (a fallback names itself, not the strategy it stood in for).
    public var strategy: String
    public var explanation: String

    public init(staffID: String, strategy: String, explanation: String) {
        self.staffID = staffID
        self.strategy = strategy
        self.explanation = explanation
    }
}

/// A way of choosing among eligible people; a hotel picks one per department by name in its
/// organisation. Strategies decide inside the assignment transaction, so they must not wait on
/// anything: a strategy that asks another system (``DispatcherStrategy``) gets the answer in
/// ``StrategyRequest/dispatcherAnswer``.
public protocol AssignmentStrategy: Sendable {
    /// The name the organisation file and `complaints.assigned.v1` use (`least_loaded`).
    var name: String { get }
    /// Picks one of `request.candidates` (never empty).
    func choose(_ request: StrategyRequest) -> StrategyChoice
}

/// The default: whoever has the fewest open complaints (then the lowest share of their capacity,
/// then the staff id, so the choice is repeatable).
public struct LeastLoadedStrategy: AssignmentStrategy {
    public static let name = "least_loaded"
    public var name: String { Self.name }
    public init() {}

    public func choose(_ request: StrategyRequest) -> StrategyChoice {
        let chosen = Self.leastLoaded(request.candidates)
        return StrategyChoice(
            staffID: chosen.member.id, strategy: name,
            explanation: "least loaded of \(request.pool) (\(chosen.openLoad) open of \(chosen.member.capacity))")
    }

    static func leastLoaded(_ candidates: [Candidate]) -> Candidate {
        candidates.min { lhs, rhs in
            (lhs.openLoad, lhs.utilisation, lhs.member.id) < (rhs.openLoad, rhs.utilisation, rhs.member.id)
        }!
    }
}

/// Takes turns: the candidate after the one the department's last complaint went to, in staff-id order.
public struct RoundRobinStrategy: AssignmentStrategy {
    public static let name = "round_robin"
    public var name: String { Self.name }
    public init() {}

    public func choose(_ request: StrategyRequest) -> StrategyChoice {
        let ordered = request.candidates.sorted { $0.member.id < $1.member.id }
        let chosen = request.lastInTurn.flatMap { last in ordered.first { $0.member.id > last } } ?? ordered[0]
        return StrategyChoice(staffID: chosen.member.id, strategy: name, explanation: "next in turn of \(request.pool)")
    }
}

/// The guest's language first, then the most matching skills (the category, `vip`, `safety`), then the
/// least loaded among equals.
public struct LanguageSkillStrategy: AssignmentStrategy {
    public static let name = "language_skill"
    public var name: String { Self.name }
    public init() {}

    public func choose(_ request: StrategyRequest) -> StrategyChoice {
        let wanted = request.facts.wantedSkills
        func score(_ candidate: Candidate) -> (language: Bool, skills: [String]) {
            (candidate.member.speaks(request.facts.language), wanted.filter(candidate.member.skills.contains))
        }
        let best = request.candidates.map { ($0, score($0)) }.max { lhs, rhs in
            let left = (lhs.1.language ? 1 : 0, lhs.1.skills.count)
            let right = (rhs.1.language ? 1 : 0, rhs.1.skills.count)
            if left != right { return left < right }
            // Among equals the least loaded wins: "less" here means more loaded.
            return (lhs.0.openLoad, lhs.0.utilisation, lhs.0.member.id) > (rhs.0.openLoad, rhs.0.utilisation, rhs.0.member.id)
        }!
        let (chosen, match) = best
        var reasons: [String] = []
        if match.language { reasons.append("speaks \(request.facts.language)") }
        if !match.skills.isEmpty { reasons.append("knows \(match.skills.joined(separator: ", "))") }
        let explanation = reasons.isEmpty
            ? "nobody of \(request.pool) speaks \(request.facts.language) or has \(wanted.joined(separator: ", ")); least loaded (\(chosen.openLoad) open of \(chosen.member.capacity))"
            : "\(reasons.joined(separator: " and ")); best match of \(request.pool)"
        return StrategyChoice(staffID: chosen.member.id, strategy: name, explanation: explanation)
    }
}
