import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import NIOCore
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import HotelTime
import SLAWatcher
import Testing

/// The watcher on the embedded cluster and PostgreSQL, with targets of seconds so the clocks run out
/// while the test watches.
@Suite("SLA watcher stage end to end", .timeLimit(.minutes(3)))
struct SLAWatcherStageTests {
    static let hotel = "SHA-PD01"

    static func policies(response: PolicyDuration, resolve: PolicyDuration) -> SLAPolicies {
        SLAPolicies(rules: [PolicyRule(
            name: "fast", response: response, resolve: resolve, warning: .percent(50),
            escalation: [EscalationStep(level: 1, when: .responseBreached), EscalationStep(level: 2, when: .resolveBreached)],
            followUp: PolicyDuration(seconds: 2), ceiling: .hours(1))])
    }

    struct World: Sendable {
        let kafka: KafkaTestEnvironment
        let topics: SLAWatcherService.Topics

        func publish<Payload>(_ events: [EventEnvelope<Payload>], on topic: Topic<Payload>) async throws {
            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
            try await withRunningServices([producer]) {
                for event in events {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: topic.name, key: topic.key(for: event).map { ByteBuffer(bytes: $0) }, value: ByteBuffer(bytes: try topic.encode(event))))
                }
            }
        }

        /// The first `count` clock events, from the beginning.
        func sla(_ count: Int, timeout: Duration = .seconds(90)) async throws -> [EventEnvelope<ComplaintSLAEvent>] {
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topics.sla.name]), logger: kafka.logger)
            let messages = try await withRunningServices([consumer]) { try await consumer.collect(count, timeout: timeout) }
            return try messages.map { try topics.sla.decode(Array($0.value.readableBytesView)) }
        }
    }

    /// Watermark checks every 200 ms and a grace of half a second: the clocks of seconds fire promptly.
    static var fastInput: InputWatermark.Configuration {
        var input = InputWatermark.Configuration()
        input.interval = .milliseconds(200)
        input.grace = .milliseconds(500)
        return input
    }

    /// The stage under `policies`, its SLA time from `clock` (by default the wall clock).
    static func run(
        _ policies: SLAPolicies, clock: @escaping @Sendable () -> Date = { Date() }, _ body: @Sendable (World) async throws -> Void
    ) async throws {
        try await runStage(policies, clock: clock) { world, _ in try await body(world) }
    }

    /// ``run(_:clock:_:)`` with more say: `before` runs before the stage starts (what it publishes is on the
    /// topics when the stage first reads them), `configure` sets the sweep's and the pipeline's test hooks, and `body` also
    /// gets a store on the stage's schema.
    static func runStage(
        _ policies: SLAPolicies, clock: @escaping @Sendable () -> Date = { Date() }, before: @Sendable (World) async throws -> Void = { _ in },
        configure: (inout TimerSweep.Configuration, inout EventPipelineService.CrashPoints, World) -> Void = { _, _, _ in },
        _ body: @Sendable (World, StageStore) async throws -> Void
    ) async throws {
        let kafka = try KafkaTestEnvironment()
        var topics = SLAWatcherService.Topics()
        // One partition each: the clock events of a complaint come back in order.
        topics.classified = topics.classified.renamed(try await kafka.makeTopic(prefix: "classified", partitions: 1))
        topics.assigned = topics.assigned.renamed(try await kafka.makeTopic(prefix: "assigned", partitions: 1))
        topics.updated = topics.updated.renamed(try await kafka.makeTopic(prefix: "updated", partitions: 1))
        topics.sla = topics.sla.renamed(try await kafka.makeTopic(prefix: "sla", partitions: 1))
        let world = World(kafka: kafka, topics: topics)
        try await before(world)
        let database = try await TestDatabase.shared.configuration()
        let service = RedressService.slaWatcher.isolated()
        let settings = ServiceSettings.forTests(kafkaBrokers: kafka.bootstrapServers, databaseURL: database.url)
        var sweep = TimerSweep.Configuration()
        sweep.maximumIdle = .milliseconds(200)
        var hooks = EventPipelineService.CrashPoints()
        configure(&sweep, &hooks, world)
        var runtime = SLAWatcherService.makeRuntime(
            service: service, settings: settings, policies: policies, topics: topics, sweep: sweep, input: fastInput, clock: clock, logger: .complaintTest)
        runtime.pipelineHooks = hooks
        runtime.deadLetterTopic = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        try await withIsolatedStage(runtime) { _, client in
            try await body(world, StageStore(client: client, schema: service.schema, logger: .complaintTest))
        }
    }

    /// Equal to the millisecond events carry.
    static func same(_ lhs: Date?, _ rhs: Date) -> Bool {
        guard let lhs else { return false }
        return abs(lhs.timeIntervalSince(rhs)) < 0.002
    }

    static func assigned(registeredAt: Date, complaintID: UUID = UUID()) throws -> EventEnvelope<ComplaintAssigned> {
        var event = try EventFixtures.assigned(complaintID: complaintID)
        event.hotelID = hotel
        event.data.registeredAt = registeredAt
        event.data.department = "housekeeping"
        return event
    }

    static func classified(
        _ id: UUID, _ severity: Severity, at classifiedAt: Date, registeredAt: Date
    ) throws -> EventEnvelope<ComplaintClassified> {
        var event = try EventFixtures.classified(complaintID: id)
        event.hotelID = hotel
        event.data.category = .cleanliness
        event.data.severity = severity
        event.data.classifiedAt = classifiedAt
        event.data.registeredAt = registeredAt
        return event
    }

    static func updated(_ id: UUID, _ change: ComplaintUpdated.Change, status: ComplaintStatus, at: Date = Date()) -> EventEnvelope<ComplaintUpdated> {
        EventEnvelope(
            source: "/redress/intake", time: at, hotelID: hotel,
            data: ComplaintUpdated(complaintID: id, change: change, occurredAt: at, actor: EventActor(id: "SHA-HK-001", role: .staff), statusAfter: status))
    }

    @Test("never acknowledged: timer started, warning, breached, escalated 1, then the resolve clock's warning, breach and level 2 — each once")
    func neverAcknowledged() async throws {
        try await Self.run(Self.policies(response: PolicyDuration(seconds: 2), resolve: PolicyDuration(seconds: 4))) { world in
            let registered = Date()
            let assigned = try Self.assigned(registeredAt: registered)
            // Delivered twice: the clock starts once.
            try await world.publish([assigned, assigned], on: world.topics.assigned)
            let events = try await world.sla(7)
            let steps = events.map { "\($0.data.kind.rawValue):\($0.data.target.rawValue)" }
            #expect(steps.first == "timer_started:acknowledge")
            #expect(Set(steps) == [
                "timer_started:acknowledge", "warning:acknowledge", "breached:acknowledge", "escalated:acknowledge",
                "warning:resolve", "breached:resolve", "escalated:resolve",
            ], "\(steps)")
            let started = events[0].data
            // Events carry milliseconds.
            #expect(Self.same(started.acknowledgeBy, registered.addingTimeInterval(2)))
            #expect(Self.same(started.resolveBy, registered.addingTimeInterval(4)))
            let breach = try #require(events.first { $0.data.kind == .breached && $0.data.target == .acknowledge })
            #expect(Self.same(breach.data.deadline, registered.addingTimeInterval(2)))
            #expect((breach.data.latenessMilliseconds ?? -1) >= 0)
            #expect(breach.data.occurredAt >= breach.data.deadline)
            let levels = events.compactMap { event -> Int? in
                if case .escalated(let escalation) = event.data.milestone { return escalation.level }
                return nil
            }
            #expect(levels.sorted() == [1, 2])
        }
    }

    @Test("acknowledged in time → met; waiting for the guest pauses, resuming moves the resolve deadline; resolved in time → met, then the follow-up falls due")
    func staffActions() async throws {
        try await Self.run(Self.policies(response: .minutes(10), resolve: .minutes(20))) { world in
            let registered = Date()
            let assigned = try Self.assigned(registeredAt: registered)
            let id = assigned.data.complaintID
            try await world.publish([assigned], on: world.topics.assigned)
            _ = try await world.sla(1)
            let pausedAt = Date()
            try await world.publish([Self.updated(id, .acknowledged, status: .acknowledged)], on: world.topics.updated)
            try await world.publish([Self.updated(id, .waitingForGuest, status: .waitingForGuest, at: pausedAt)], on: world.topics.updated)
            try await Task.sleep(for: .seconds(1))
            let resumedAt = Date()
            try await world.publish([Self.updated(id, .resumed, status: .acknowledged, at: resumedAt)], on: world.topics.updated)
            let resolution = Resolution(text: "Fixed", rootCause: "wear", isFirstContact: true)
            try await world.publish([Self.updated(id, .resolved(resolution), status: .resolved)], on: world.topics.updated)
            let events = try await world.sla(6)
            #expect(events.map(\.data.kind) == [.timerStarted, .met, .paused, .resumed, .met, .followUpDue])
            #expect(events[1].data.target == .acknowledge)
            let paused = events[2].data, resumed = events[3].data
            #expect(Self.same(paused.deadline, registered.addingTimeInterval(20 * 60)))
            // The paused second(s) are added to the resolve deadline.
            let shift = try #require(resumed.resolveBy).timeIntervalSince(paused.deadline)
            #expect(abs(shift - resumedAt.timeIntervalSince(pausedAt)) < 0.01)
            #expect(events[4].data.target == .resolve)
            #expect(events[5].data.target == .followup)
        }
    }

    @Test("a newer verdict with another severity reschedules the open deadlines; older, repeated and assignment-borne verdicts change nothing")
    func reclassified() async throws {
        let policies = SLAPolicies(rules: [
            PolicyRule(name: "default", response: .minutes(10), resolve: .minutes(20)),
            PolicyRule(name: "serious", severity: .serious, response: .minutes(1), resolve: .minutes(2)),
            PolicyRule(name: "minor", severity: .minor, response: .minutes(30), resolve: .minutes(60)),
        ])
        try await Self.run(policies) { world in
            let registered = Date()
            let first = registered.addingTimeInterval(1)
            var assigned = try Self.assigned(registeredAt: registered)
            assigned.data.category = .cleanliness
            assigned.data.severity = .moderate
            let id = assigned.data.complaintID
            try await world.publish([Self.classified(id, .moderate, at: first, registeredAt: registered)], on: world.topics.classified)
            try await world.publish([assigned], on: world.topics.assigned)
            let started = try await world.sla(1)[0].data
            #expect(Self.same(started.acknowledgeBy, registered.addingTimeInterval(10 * 60)))

            // Reclassified as serious: both open deadlines move.
            try await world.publish([Self.classified(id, .serious, at: first.addingTimeInterval(60), registeredAt: registered)], on: world.topics.classified)
            let serious = try await world.sla(2)[1].data
            #expect(serious.kind == .rescheduled)
            #expect(serious.severity == .serious)
            #expect(serious.target == .acknowledge)
            #expect(Self.same(serious.acknowledgeBy, registered.addingTimeInterval(60)))
            #expect(Self.same(serious.resolveBy, registered.addingTimeInterval(120)))

            // An older verdict delivered late, the same verdict again and an escalation repeating the first
            // severity change nothing; a second complaint's assignment and a newer verdict show they were read.
            let other = try Self.assigned(registeredAt: registered)
            try await world.publish([
                Self.classified(id, .moderate, at: first, registeredAt: registered),
                Self.classified(id, .serious, at: first.addingTimeInterval(60), registeredAt: registered),
            ], on: world.topics.classified)
            try await world.publish([assigned, other], on: world.topics.assigned)
            try await world.publish([Self.classified(id, .minor, at: first.addingTimeInterval(120), registeredAt: registered)], on: world.topics.classified)
            let events = try await world.sla(4)
            let later = events[2...].map { "\($0.data.complaintID == id ? "this" : "other") \($0.data.kind.rawValue)" }
            #expect(Set(later) == ["other timer_started", "this rescheduled"], "\(later)")
            let minor = try #require(events[2...].first { $0.data.complaintID == id }).data
            #expect(minor.severity == .minor)
            #expect(Self.same(minor.acknowledgeBy, registered.addingTimeInterval(30 * 60)))

            // Acknowledging now meets the minor deadline.
            try await world.publish([Self.updated(id, .acknowledged, status: .acknowledged)], on: world.topics.updated)
            let met = try await world.sla(5)[4].data
            #expect(met.kind == .met)
            #expect(Self.same(met.deadline, registered.addingTimeInterval(30 * 60)))
        }
    }

    @Test("reopened 74 h after registration, having been open 1 h: no ceiling at the reopening; ceiling_reached and level 3 once 72 h of open time have passed")
    func reopenedAfterTheCeiling() async throws {
        // Days of SLA time: the sweep's clock moves when the test says so; the events carry their own times.
        let time = ManualTime()
        let policies = SLAPolicies(rules: [PolicyRule(
            name: "days", response: .minutes(10), resolve: .hours(100), warning: .percent(50),
            escalation: [EscalationStep(level: 1, when: .responseBreached), EscalationStep(level: 2, when: .resolveBreached)],
            followUp: .hours(24), ceiling: .hours(72))])
        try await Self.run(policies, clock: time.clock) { world in
            let registered = time.date
            func hours(_ count: Double) -> Date { registered.addingTimeInterval(count * 3600) }
            let assigned = try Self.assigned(registeredAt: registered)
            let id = assigned.data.complaintID
            time.advance(1)
            try await world.publish([assigned], on: world.topics.assigned)
            _ = try await world.sla(1)
            // Acknowledged after 2 minutes, resolved after an hour: open for one hour.
            let resolution = Resolution(text: "Fixed", rootCause: "wear", isFirstContact: true)
            try await world.publish([
                Self.updated(id, .acknowledged, status: .acknowledged, at: registered.addingTimeInterval(120)),
                Self.updated(id, .resolved(resolution), status: .resolved, at: hours(1)),
            ], on: world.topics.updated)
            #expect(try await world.sla(3).map(\.data.kind) == [.timerStarted, .met, .met])
            // The follow-up a day later; the guest's answer reopens it at 74 h, two hours past the old ceiling.
            time.advance(25 * 3600)
            #expect(try await world.sla(4)[3].data.kind == .followUpDue)
            time.advance(hours(74).timeIntervalSince(time.date))
            try await world.publish([Self.updated(id, .reopened(Reopening(trigger: .followupDissatisfied, reason: "satisfaction 1")), status: .reopened, at: hours(74))], on: world.topics.updated)
            // The reopening publishes the new resolve clock's deadline, 100 h from the reopening: rescheduled.
            let reopened = try await world.sla(5)[4].data
            #expect(reopened.kind == .rescheduled && reopened.target == .resolve, "\(reopened)")
            #expect(Self.same(reopened.resolveBy ?? .distantPast, hours(174)), "\(String(describing: reopened.resolveBy))")
            // 70 h later (71 h open in all) the reopened clock's warning (50 h) has fired, and nothing before it.
            time.advance(70 * 3600)
            let warning = try await world.sla(6)[5].data
            #expect("\(warning.kind.rawValue):\(warning.target.rawValue)" == "warning:resolve")
            // At 72 h open, 71 h after the reopening: the ceiling, and the general manager with it (a second
            // past it: timers fire once the input is caught up past their due time plus the grace, and this
            // clock stands still).
            time.advance(3600 + 1)
            let events = try await world.sla(8)
            let tail = events[6...].map { event -> String in
                if case .escalated(let escalation) = event.data.milestone { return "escalated \(escalation.level) \(event.data.target.rawValue)" }
                return event.data.kind.rawValue
            }
            #expect(tail == ["ceiling_reached", "escalated 3 ceiling"], "\(events.map(\.data.milestone))")
            for event in events[6...] {
                #expect(Self.same(event.data.deadline, hours(145)), "\(event.data.deadline)")
                #expect(event.data.occurredAt >= hours(145))
            }
        }
    }
}
