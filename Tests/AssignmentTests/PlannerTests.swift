import Assignment
import ComplaintEvents
import Foundation
import HotelTime
import Testing

/// The decision rules, at 10:00 on a Wednesday in Shanghai unless a test says otherwise.
@Suite("Assignment decisions: strategies, capacity, seniority, fallbacks, escalation")
struct PlannerTests {
    let hotel = testHotel()
    let planner = AssignmentPlanner()
    /// Wednesday 10:00 in Shanghai: housekeeping, its head, duty manager DM-1 and the GM are on shift.
    let morning = instant("2026-12-02T02:00:00Z")
    /// Thursday 00:00 in Shanghai: only the engineering night agent and duty manager DM-2.
    let midnight = instant("2026-12-02T16:00:00Z")
    /// Sunday 00:00 in Shanghai: as at midnight, and the GM is off.
    let weekendNight = instant("2026-12-05T16:00:00Z")

    @Test("least loaded: fewest open complaints wins, ties by staff id, and the reason says so")
    func leastLoaded() throws {
        let decision = try #require(planner.assign(
            facts(), in: hotel, loads: ["HK-1": 2, "HK-3": 1, "HK-H": 1, "HK-S": 1], now: morning))
        #expect(decision.member.id == "HK-2")
        #expect(decision.department == "housekeeping")
        #expect(decision.strategy == "least_loaded")
        #expect(decision.explanation == "least loaded of 5 on duty in Housekeeping (0 open of 3); speaks en")
    }

    @Test("only people under capacity are candidates; when all are full the duty manager on shift takes it")
    func capacity() throws {
        let full = ["HK-1": 3, "HK-2": 3, "HK-3": 3, "HK-S": 2, "HK-H": 2]
        let decision = try #require(planner.assign(facts(), in: hotel, loads: full, now: morning))
        #expect(decision.member.id == "DM-1")
        #expect(decision.strategy == AssignmentPlanner.dutyManagerFallback)
        #expect(decision.explanation.contains("all 5 on duty in Housekeeping are at capacity"))
        var spare = full
        spare["HK-3"] = 2
        #expect(planner.assign(facts(), in: hotel, loads: spare, now: morning)?.member.id == "HK-3")
    }

    @Test("a capacity of zero takes nothing from the strategies")
    func zeroCapacity() throws {
        var hotel = self.hotel
        for index in hotel.staff.indices where hotel.staff[index].departments == ["housekeeping"] { hotel.staff[index].capacity = 0 }
        #expect(planner.assign(facts(), in: hotel, loads: [:], now: morning)?.member.id == "DM-1")
    }

    @Test("VIP and serious complaints go to a supervisor or above", arguments: [(true, Severity.moderate), (false, .serious)])
    func seniority(vip: Bool, severity: Severity) throws {
        let decision = try #require(planner.assign(facts(severity: severity, vip: vip), in: hotel, loads: ["HK-S": 1], now: morning))
        #expect(decision.member.id == "HK-H")
        #expect(decision.explanation.hasSuffix(vip ? "VIP: supervisor or above" : "serious: supervisor or above"))
        // Both seniors full: the duty manager, never an agent.
        let full = try #require(planner.assign(facts(severity: severity, vip: vip), in: hotel, loads: ["HK-S": 2, "HK-H": 2], now: morning))
        #expect(full.member.id == "DM-1")
        #expect(full.explanation.contains("supervisor or above"))
    }

    @Test("nobody of the department on shift: the duty manager on the night shift")
    func nobodyOnShift() throws {
        let decision = try #require(planner.assign(facts(), in: hotel, loads: [:], now: midnight))
        #expect(decision.member.id == "DM-2")
        #expect(decision.explanation == "nobody on duty in Housekeeping; duty manager on duty")
        // Engineering has its night agent.
        #expect(planner.assign(facts(.maintenance), in: hotel, loads: [:], now: midnight)?.member.id == "EN-1")
    }

    @Test("no duty manager on shift: the general manager, on shift if possible, else off shift; never unassigned")
    func generalManager() throws {
        var hotel = self.hotel
        hotel.staff.removeAll { $0.role == .dutyManager }
        let day = try #require(planner.assign(facts(), in: hotel, loads: ["HK-1": 3, "HK-2": 3, "HK-3": 3, "HK-S": 2, "HK-H": 2], now: morning))
        #expect(day.member.id == "GM-1")
        #expect(day.strategy == AssignmentPlanner.generalManagerFallback)
        #expect(day.explanation.hasSuffix("no duty manager on duty; general manager on duty"))
        let night = try #require(planner.assign(facts(), in: hotel, loads: [:], now: weekendNight))
        #expect(night.member.id == "GM-1")
        #expect(night.explanation.hasSuffix("general manager (off shift)"))
        // No general manager listed either: the most senior active person.
        hotel.staff.removeAll { $0.role == .generalManager }
        let senior = try #require(planner.assign(facts(), in: hotel, loads: [:], now: weekendNight))
        #expect(senior.member.id == "HK-H")
        // Nobody active at all: no decision (the handler dead-letters with the reason).
        for index in hotel.staff.indices { hotel.staff[index].active = false }
        #expect(planner.assign(facts(), in: hotel, loads: [:], now: morning) == nil)
    }

    @Test("inactive staff are never chosen")
    func inactive() throws {
        var hotel = self.hotel
        hotel.staff[1].active = false  // HK-2
        #expect(planner.assign(facts(), in: hotel, loads: ["HK-1": 1, "HK-3": 1, "HK-H": 1, "HK-S": 1], now: morning)?.member.id == "HK-1")
    }

    @Test("a category no department handles goes to the duty manager, under the default department's code")
    func unrouted() throws {
        let decision = try #require(planner.assign(facts(.billing), in: hotel, loads: [:], now: morning))
        #expect(decision.member.id == "DM-1")
        #expect(decision.department == "finance")
        #expect(decision.explanation.hasPrefix("no department of TST-HQ01 handles billing"))
    }

    @Test("round robin takes turns in staff-id order and wraps around", arguments: [
        (nil, "HK-1"), ("HK-1", "HK-2"), ("HK-3", "HK-H"), ("HK-S", "HK-1"), ("HK-0", "HK-1"),
    ] as [(String?, String)])
    func roundRobin(last: String?, expected: String) throws {
        let hotel = testHotel(strategy: RoundRobinStrategy.name)
        let decision = try #require(planner.assign(facts(), in: hotel, loads: [:], now: morning, lastInTurn: last))
        #expect(decision.member.id == expected)
        #expect(decision.strategy == "round_robin")
        #expect(decision.explanation.hasPrefix("next in turn of 5 on duty in Housekeeping"))
    }

    @Test("round robin skips people at capacity")
    func roundRobinCapacity() throws {
        let hotel = testHotel(strategy: RoundRobinStrategy.name)
        #expect(planner.assign(facts(), in: hotel, loads: ["HK-2": 3], now: morning, lastInTurn: "HK-1")?.member.id == "HK-3")
    }

    @Test("language and skill first, then the least loaded among equals", arguments: [
        ("zh-CN", [String: Int](), "HK-3", "speaks zh-CN and knows cleanliness"),
        ("zh-CN", ["HK-3": 3], "HK-2", "speaks zh-CN"),
        ("zh", [:], "HK-3", "speaks zh and knows cleanliness"),
        ("en", [:], "HK-1", "speaks en and knows cleanliness"),
        ("fr", ["HK-1": 1], "HK-3", "knows cleanliness"),
    ])
    func languageSkill(language: String, loads: [String: Int], expected: String, reason: String) throws {
        let hotel = testHotel(strategy: LanguageSkillStrategy.name)
        let decision = try #require(planner.assign(facts(language: language), in: hotel, loads: loads, now: morning))
        #expect(decision.member.id == expected)
        #expect(decision.explanation.hasPrefix(reason + "; best match of"))
    }

    @Test("language/skill with nobody matching says so and takes the least loaded")
    func languageSkillNoMatch() throws {
        var hotel = testHotel(strategy: LanguageSkillStrategy.name)
        for index in hotel.staff.indices { hotel.staff[index].skills = [] }
        let decision = try #require(planner.assign(facts(language: "ar"), in: hotel, loads: ["HK-1": 1], now: morning))
        #expect(decision.member.id == "HK-2")
        #expect(decision.explanation.hasPrefix("nobody of 5 on duty in Housekeeping speaks ar or has cleanliness"))
    }

    @Test("the dispatcher's answer is used when its person is eligible; otherwise the fallback decides and says why")
    func dispatcher() throws {
        let hotel = testHotel(strategy: DispatcherStrategy.name)
        let chosen = try #require(planner.assign(
            facts(), in: hotel, loads: [:], now: morning, dispatcherAnswer: .chose(staffID: "HK-3", reason: "knows the room")))
        #expect(chosen.member.id == "HK-3")
        #expect(chosen.strategy == "http")
        #expect(chosen.explanation.hasPrefix("chosen by the group dispatcher of 5 on duty in Housekeeping: knows the room"))

        let ineligible = try #require(planner.assign(
            facts(), in: hotel, loads: ["HK-3": 3], now: morning, dispatcherAnswer: .chose(staffID: "HK-3", reason: nil)))
        #expect(ineligible.member.id == "HK-1")
        #expect(ineligible.strategy == "least_loaded")
        #expect(ineligible.explanation.hasPrefix("the dispatcher named HK-3, who is not on duty with capacity; least loaded"))

        let failed = try #require(planner.assign(facts(), in: hotel, loads: [:], now: morning, dispatcherAnswer: .failed("no answer within 800 ms")))
        #expect(failed.strategy == "least_loaded")
        #expect(failed.explanation.hasPrefix("the dispatcher failed (no answer within 800 ms); least loaded"))

        // The fallback can be another built-in.
        let roundRobin = AssignmentPlanner(strategies: StrategyRegistry(dispatcherFallback: RoundRobinStrategy.name))
        let turn = try #require(roundRobin.assign(facts(), in: hotel, loads: [:], now: morning, lastInTurn: "HK-1", dispatcherAnswer: .failed("HTTP 500")))
        #expect(turn.member.id == "HK-2")
        #expect(turn.strategy == "round_robin")
    }

    @Test("escalation levels follow the hotel's chain: department head, duty manager, general manager", arguments: [
        (1, "HK-H", "escalation level 1: department head of Housekeeping on duty"),
        (2, "DM-1", "escalation level 2: duty manager on duty"),
        (3, "GM-1", "escalation level 3: general manager on duty"),
    ])
    func escalationLevels(level: Int, expected: String, explanation: String) throws {
        let decision = try #require(planner.escalate(facts(), department: "housekeeping", level: level, in: hotel, loads: [:], now: morning))
        #expect(decision.member.id == expected)
        #expect(decision.strategy == AssignmentPlanner.escalation)
        #expect(decision.explanation == explanation)
    }

    @Test("an escalation with nobody of the level on shift goes up the chain; the general manager last, even off shift")
    func escalationAtNight() throws {
        let first = try #require(planner.escalate(facts(), department: "housekeeping", level: 1, in: hotel, loads: [:], now: midnight))
        #expect(first.member.id == "DM-2")
        #expect(first.explanation == "escalation level 1: no department head of Housekeeping on duty; duty manager on duty")
        let third = try #require(planner.escalate(facts(), department: "housekeeping", level: 3, in: hotel, loads: [:], now: weekendNight))
        #expect(third.member.id == "GM-1")
        #expect(third.explanation.hasSuffix("general manager (off shift)"))
        // Level 2 at the same hour, the duty manager owning it since level 1: not handed back to them.
        let second = try #require(planner.escalate(facts(), department: "housekeeping", level: 2, in: hotel, loads: [:], now: midnight, owner: "DM-2"))
        #expect(second.member.id != "DM-2")
        #expect(second.explanation.hasPrefix("escalation level 2: no duty manager besides the current owner"), "\(second.explanation)")
        // Capacity does not stop an escalation.
        let full = try #require(planner.escalate(facts(), department: "housekeeping", level: 1, in: hotel, loads: ["HK-H": 50], now: morning))
        #expect(full.member.id == "HK-H")
    }

    @Test("the chain is configurable per hotel")
    func customChain() throws {
        var hotel = self.hotel
        hotel.escalation = [.dutyManager, .departmentHead, .generalManager]
        #expect(planner.escalate(facts(), department: "housekeeping", level: 1, in: hotel, loads: [:], now: morning)?.member.id == "DM-1")
        #expect(planner.escalate(facts(), department: "housekeeping", level: 2, in: hotel, loads: [:], now: morning)?.member.id == "HK-H")
    }
}
