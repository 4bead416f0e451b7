import ComplaintEvents
import Foundation

/// The strategies hotels may name, by name: the built-ins and `http` (which, with no dispatcher
/// configured, falls back and says so).
public struct StrategyRegistry: Sendable {
    public private(set) var strategies: [String: any AssignmentStrategy]

    /// The built-in strategies; `http` falls back on `dispatcherFallback` (least loaded by default).
    public init(dispatcherFallback: String = LeastLoadedStrategy.name, extra: [any AssignmentStrategy] = []) {
        var strategies: [String: any AssignmentStrategy] = [:]
        for strategy in [LeastLoadedStrategy(), RoundRobinStrategy(), LanguageSkillStrategy()] as [any AssignmentStrategy] + extra {
            strategies[strategy.name] = strategy
        }
        strategies[DispatcherStrategy.name] = DispatcherStrategy(fallback: strategies[dispatcherFallback] ?? LeastLoadedStrategy())
        self.strategies = strategies
    }

    public var names: Set<String> { Set(strategies.keys) }

    public func strategy(named name: String) -> any AssignmentStrategy {
        strategies[name] ?? LeastLoadedStrategy()
    }
}

/// Who owns a complaint now, and why, in words.
public struct AssignmentDecision: Sendable, Hashable {
    public var department: String
    public var member: StaffMember
    /// The strategy that chose, or `duty_manager_fallback`, `general_manager_fallback`, `escalation`, `hand_over`, `owner_kept`.
    public var strategy: String
    public var explanation: String
}

/// Decides who owns a complaint: the routing, the shift and capacity filters, the seniority rule for VIP
/// and serious complaints, the strategy, and the fallback chain (duty manager on shift → general
/// manager) that makes sure nothing is left unassigned; and, on an SLA escalation, the next person
/// up the hotel's chain. Pure: the caller supplies the organisation, the open loads and the clock.
public struct AssignmentPlanner: Sendable {
    public var strategies: StrategyRegistry

    public static let dutyManagerFallback = "duty_manager_fallback"
    public static let generalManagerFallback = "general_manager_fallback"
    public static let escalation = "escalation"

    public init(strategies: StrategyRegistry = StrategyRegistry()) {
        self.strategies = strategies
    }

    /// The department a complaint goes to and the people a strategy may choose from there.
    public struct Routing: Sendable {
        /// `nil` when no department of the hotel handles the category.
        public var department: Department?
        /// The department code events carry (the default department's code when the hotel has none).
        public var departmentCode: String
        public var strategy: String
        /// On shift, in the department, senior enough; sorted by staff id.
        public var onDuty: [Candidate]
        /// ``onDuty`` under capacity: whom the strategy chooses from.
        public var candidates: [Candidate]
    }

    /// Routes `facts` at `hotel` at `now` given the open `loads` by staff id.
    public func route(_ facts: ComplaintFacts, in hotel: HotelOrganisation, loads: [String: Int], now: Date) -> Routing {
        let schedule = ShiftSchedule(timeZone: hotel.zone)
        guard let department = hotel.department(for: facts.category) else {
            let code = DefaultRouting.departments.first { $0.categories.contains(facts.category) }?.code ?? "guest_relations"
            return Routing(department: nil, departmentCode: code, strategy: hotel.strategy, onDuty: [], candidates: [])
        }
        let onDuty = hotel.staff
            .filter { $0.active && $0.departments.contains(department.code) && schedule.isOnShift($0, at: now) }
            .filter { !facts.needsSeniority || $0.role >= .supervisor }
            .sorted { $0.id < $1.id }
            .map { Candidate(member: $0, openLoad: loads[$0.id] ?? 0) }
        return Routing(
            department: department, departmentCode: department.code, strategy: department.strategy ?? hotel.strategy,
            onDuty: onDuty, candidates: onDuty.filter { $0.openLoad < $0.member.capacity })
    }

    /// The first owner of a classified complaint; `nil` only when the hotel has no active staff at all.
    public func assign(
        _ facts: ComplaintFacts, in hotel: HotelOrganisation, loads: [String: Int], now: Date, lastInTurn: String? = nil,
        dispatcherAnswer: DispatcherAnswer? = nil
    ) -> AssignmentDecision? {
        let routing = route(facts, in: hotel, loads: loads, now: now)
        let seniority = facts.needsSeniority ? "; \(facts.isVIP ? "VIP" : "serious"): supervisor or above" : ""
        if let department = routing.department, !routing.candidates.isEmpty {
            let request = StrategyRequest(
                facts: facts, department: department, candidates: routing.candidates, lastInTurn: lastInTurn,
                dispatcherAnswer: dispatcherAnswer)
            let choice = strategies.strategy(named: routing.strategy).choose(request)
            if let chosen = routing.candidates.first(where: { $0.member.id == choice.staffID }) {
                let language = chosen.member.speaks(facts.language) && !choice.explanation.contains("speaks") ? "; speaks \(facts.language)" : ""
                return AssignmentDecision(
                    department: routing.departmentCode, member: chosen.member, strategy: choice.strategy,
                    explanation: choice.explanation + language + seniority)
            }
        }
        let why: String
        if let department = routing.department {
            why = routing.onDuty.isEmpty
                ? "nobody\(facts.needsSeniority ? " senior enough" : "") on duty in \(department.name)"
                : "all \(routing.onDuty.count) on duty in \(department.name) are at capacity"
        } else {
            why = "no department of \(hotel.id) handles \(facts.category.rawValue)"
        }
        return fallback(in: hotel, department: routing.departmentCode, loads: loads, now: now, why: why + seniority)
    }

    /// The owner after an SLA escalation to `level` (1–3): the role the hotel's chain names for it, on
    /// shift; if nobody in that role is on shift, the next role up the chain; the general manager last.
    /// The current `owner` is never the one escalated to while someone up the chain is on shift: at night
    /// the duty manager often owns the complaint already, and handing it back to them wastes the step.
    public func escalate(
        _ facts: ComplaintFacts, department: String, level: Int, in hotel: HotelOrganisation, loads: [String: Int], now: Date,
        owner: String? = nil
    ) -> AssignmentDecision? {
        let schedule = ShiftSchedule(timeZone: hotel.zone)
        let chain = hotel.escalation.isEmpty ? HotelOrganisation.defaultEscalation : hotel.escalation
        let index = min(max(level, 1), chain.count) - 1
        let departmentName = hotel.department(department)?.name ?? DefaultRouting.name(of: department)
        var missing: [String] = []
        for role in chain[index...].map(StaffRole.init) + [.generalManager] {
            let onDuty = hotel.staff.filter {
                $0.active && $0.role == role && (role != .departmentHead || $0.departments.contains(department))
                    && schedule.isOnShift($0, at: now)
            }
            let people = onDuty.filter { $0.id != owner }
            let besides = people.count < onDuty.count ? " besides the current owner" : ""
            let what = (role == .departmentHead ? "department head of \(departmentName)" : role.words) + besides
            if let chosen = leastLoaded(people, loads: loads) {
                let prefix = missing.isEmpty ? "" : "no \(missing.joined(separator: ", no ")) on duty; "
                return AssignmentDecision(
                    department: department, member: chosen, strategy: Self.escalation,
                    explanation: "escalation level \(level): \(prefix)\(what) on duty")
            }
            if !missing.contains(what) { missing.append(what) }
        }
        // Nobody up the chain is on shift: the general manager (or the most senior person) off shift.
        return fallback(
            in: hotel, department: department, loads: loads, now: now,
            why: "escalation level \(level): no \(missing.joined(separator: ", no ")) on duty", strategy: Self.escalation)
    }

    /// The end of every chain: a duty manager on shift, else the general manager (on shift first), else
    /// the most senior active person; capacity no longer counts.
    func fallback(
        in hotel: HotelOrganisation, department: String, loads: [String: Int], now: Date, why: String, strategy: String? = nil
    ) -> AssignmentDecision? {
        let schedule = ShiftSchedule(timeZone: hotel.zone)
        let active = hotel.staff.filter(\.active)
        let dutyManagers = active.filter { $0.role == .dutyManager && schedule.isOnShift($0, at: now) }
        if strategy == nil, let chosen = leastLoaded(dutyManagers, loads: loads) {
            return AssignmentDecision(
                department: department, member: chosen, strategy: Self.dutyManagerFallback,
                explanation: "\(why); duty manager on duty")
        }
        let managers = active.filter { $0.role == .generalManager }
        let onShift = managers.filter { schedule.isOnShift($0, at: now) }
        if let chosen = leastLoaded(onShift.isEmpty ? managers : onShift, loads: loads) {
            let noDuty = strategy == nil ? "; no duty manager on duty" : ""
            return AssignmentDecision(
                department: department, member: chosen, strategy: strategy ?? Self.generalManagerFallback,
                explanation: "\(why)\(noDuty); general manager\(onShift.isEmpty ? " (off shift)" : " on duty")")
        }
        let seniorRank = active.map(\.role).max()
        if let seniorRank, let chosen = leastLoaded(active.filter { $0.role == seniorRank }, loads: loads) {
            return AssignmentDecision(
                department: department, member: chosen, strategy: strategy ?? Self.generalManagerFallback,
                explanation: "\(why); no general manager listed; most senior person (\(seniorRank.words))")
        }
        return nil
    }

    private func leastLoaded(_ people: [StaffMember], loads: [String: Int]) -> StaffMember? {
        people.min { lhs, rhs in (loads[lhs.id] ?? 0, lhs.id) < (loads[rhs.id] ?? 0, rhs.id) }
    }
}
