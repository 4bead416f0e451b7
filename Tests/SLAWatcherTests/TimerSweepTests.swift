import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
import Logging
import PostgresNIO
@testable import SLAWatcher
import Testing

/// The sweep against a real database: replicas, outages, lateness.
@Suite("Timer sweep", .timeLimit(.minutes(2)))
struct TimerSweepTests {
    static func withSchema(_ body: @Sendable (StageStore, PostgresClient) async throws -> Void) async throws {
        try await withMigratedSchema(of: RedressService.slaWatcher.isolated(), body)
    }

    /// `count` complaints registered `ago` with 1-minute / 2-minute targets: after an outage, all overdue.
    static func seed(_ count: Int, registeredAgo ago: TimeInterval, clockwork: Clockwork, store: StageStore) async throws {
        try await store.write { connection, logger in
            for _ in 0..<count {
                var record = ClockRecord(complaintID: UUID(), hotelID: "SHA-PD01")
                record.department = "housekeeping"
                record.category = .cleanliness
                record.severity = .moderate
                record.registeredAt = Date().addingTimeInterval(-ago)
                record.resolveStartedAt = record.registeredAt
                try await clockwork.store.save(record, on: connection, logger: logger)
                try await clockwork.store.arm(clockwork.desiredTimers(of: record), for: record.complaintID, now: Date(), on: connection, logger: logger)
            }
            return ((), [])
        }
    }

    static let policies = SLAPolicies(rules: [PolicyRule(
        name: "fast", response: .minutes(1), resolve: .minutes(2), warning: .percent(50),
        escalation: [EscalationStep(level: 1, when: .responseBreached)], ceiling: .hours(1))])

    @Test("two replicas sweeping one database after an outage fire every overdue timer exactly once, late, none skipped")
    func replicas() async throws {
        try await Self.withSchema { store, client in
            let clockwork = Clockwork(policies: Self.policies)
            // 150 complaints, three minutes old: acknowledge warning and breach, escalation 1, resolve warning and breach are overdue.
            try await Self.seed(150, registeredAgo: 180, clockwork: clockwork, store: store)
            var configuration = TimerSweep.Configuration()
            configuration.batchSize = 40
            let sweeps = (0..<2).map { _ in TimerSweep(clockwork: clockwork, store: store, client: client, configuration: configuration, logger: .complaintTest) }
            let fired = try await withThrowingTaskGroup(of: Int.self) { group in
                for sweep in sweeps {
                    group.addTask {
                        var total = 0
                        while true {
                            let count = try await sweep.sweep()
                            total += count
                            if count == 0 { return total }
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(fired == 150 * 5)
            // One event per complaint and step: none fired twice by the two replicas.
            let values = try await store.read { connection, logger in
                try await connection.query("SELECT convert_from(value, 'UTF8') FROM outbox", logger: logger).collect().map { try $0.decode(String.self) }
            }
            let steps = try values.map { value -> String in
                let event = try Topics.sla.decode(Array(value.utf8)).data
                return "\(event.complaintID) \(event.kind.rawValue) \(event.target.rawValue)"
            }
            #expect(steps.count == 150 * 5)
            #expect(Set(steps).count == steps.count)
            let unfiredOverdue = try await store.read { connection, logger in
                try await connection.query("SELECT count(*)::int FROM timers WHERE fired_at IS NULL AND due_at <= now()", logger: logger)
                    .collect()[0].decode(Int.self)
            }
            #expect(unfiredOverdue == 0)
            // Nothing fires twice.
            #expect(try await sweeps[0].sweep() == 0)
        }
    }

    @Test("the ceiling and a later level-3 escalation overdue in one batch: the general manager is escalated to once")
    func ceilingBeforeLevelThree() async throws {
        try await Self.withSchema { store, client in
            // Level 3 two hours after the resolve breach, the ceiling at one hour: three hours later both are overdue, the ceiling first.
            let clockwork = Clockwork(policies: SLAPolicies(rules: [PolicyRule(
                name: "late-gm", response: .minutes(1), resolve: .minutes(2), warning: .percent(50),
                escalation: [EscalationStep(level: 3, when: .resolveBreached, after: .hours(2))], ceiling: .hours(1))]))
            try await Self.seed(1, registeredAgo: 3 * 3600, clockwork: clockwork, store: store)
            let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, logger: .complaintTest)
            _ = try await sweep.sweep()
            #expect(try await sweep.sweep() == 0)
            let values = try await store.read { connection, logger in
                try await connection.query("SELECT convert_from(value, 'UTF8') FROM outbox ORDER BY id", logger: logger).collect()
                    .map { try $0.decode(String.self) }
            }
            let events = try values.map { try Topics.sla.decode(Array($0.utf8)).data }
            let escalations = events.compactMap { event -> Int? in
                if case .escalated(let escalation) = event.milestone { return escalation.level }
                return nil
            }
            #expect(escalations == [3], "\(events.map(\.milestone))")
            #expect(events.filter { $0.kind == .ceilingReached }.count == 1)
        }
    }

    @Test("a fired timer records how late it fired")
    func lateness() async throws {
        try await Self.withSchema { store, client in
            let clockwork = Clockwork(policies: Self.policies)
            try await Self.seed(1, registeredAgo: 70, clockwork: clockwork, store: store)
            let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, logger: .complaintTest)
            // Acknowledge warning (30 s), breach and escalation 1 (60 s), resolve warning (60 s).
            #expect(try await sweep.sweep() == 4)
            let values = try await store.read { connection, logger in
                try await connection.query("SELECT convert_from(value, 'UTF8') FROM outbox ORDER BY id", logger: logger).collect()
                    .map { try $0.decode(String.self) }
            }
            let events = try values.map { try Topics.sla.decode(Array($0.utf8)) }
            let warning = try #require(events.first { $0.data.kind == .warning && $0.data.target == .acknowledge })
            // Due 40 s before the sweep (30 s after registration, 70 s ago).
            #expect(abs(Double(warning.data.latenessMilliseconds ?? 0) - 40_000) < 2_000)
            #expect(Set(events.map(\.data.kind)) == [.warning, .breached, .escalated])
        }
    }
}
