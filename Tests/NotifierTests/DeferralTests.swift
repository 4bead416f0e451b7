import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
@testable import Notifier
import PostgresNIO
import RdKafkaTestKit
import Testing

/// A guest message held for quiet hours is deferred, not failed: it keeps its attempts, so one held on
/// its last attempt is still sent in the morning instead of being given up.
@Suite("Deliberate holds use no attempt", .timeLimit(.minutes(2)))
struct DeferralTests {
    /// A guest source for messages that must not get as far as asking intake.
    struct NoGuests: GuestContactSource {
        func contact(for complaintID: UUID, logger: Logger) async throws -> GuestContact {
            Issue.record("a message held for quiet hours must not ask intake for the guest")
            return GuestContact(email: "guest@example.com")
        }
    }

    /// `HH:MM` in UTC, `minutes` from now.
    static func clock(_ minutes: Double) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.hour, .minute], from: Date().addingTimeInterval(minutes * 60))
        return String(format: "%02d:%02d", parts.hour ?? 0, parts.minute ?? 0)
    }

    /// Rules whose quiet hours began an hour ago and end in an hour, the guest worker's performer, and a
    /// guest e-mail planned by them.
    static func guestMessageInQuietHours() throws -> (NotificationRules, DeliveryPerformer, NotificationIntent) {
        let rules = try NotifierFixtures.rules("""
            hotels:
              SHA-PD01: {timeZone: UTC, quietHours: "\(Self.clock(-60))-\(Self.clock(60))"}
            rules:
              - {name: guest-registered, on: [received], to: [guest], template: complaint_received_guest}
            """)
        let performer = DeliveryPerformer(
            kind: .guest, rules: LiveConfiguration(name: "rules", fixed: rules), templates: try NotifierFixtures.templates(),
            channels: [:], guests: NoGuests(), surveySecret: nil, pacer: EndpointPacer())
        var intent = NotifierFixtures.intent(
            template: "complaint_received_guest", channel: .email, recipient: NotificationRecipient(kind: .guest, role: .guest),
            endpoint: nil, trigger: "received")
        intent.rule = "guest-registered"
        intent.guestChannels = [.email]
        intent.notificationID = NotificationIntent.notificationID(forKey: intent.idempotencyKey)
        return (rules, performer, intent)
    }

    @Test("a guest message due in quiet hours on its last attempt waits for their end, with its attempt unused and no receipt")
    func quietHoursOnTheLastAttempt() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            let (_, performer, intent) = try Self.guestMessageInQuietHours()
            try await DeliveryWorkerTests.record(intent, attempts: 1, kind: .guest, schema: schema, client: client)

            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: client)]) {
                let handled = try await eventually(timeout: .seconds(20)) {
                    try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client).status != "pending"
                }
                #expect(handled)
            }
            let row = try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client)
            #expect(row.status == "deferred", "not given up: \(row.error ?? "")")
            #expect(row.attempts == 0)
            #expect(row.error?.hasPrefix("[quiet_hours]") == true)
            let queued = try await client.query(
                PostgresQuery(unsafeSQL: "SELECT status, attempts, due_at FROM \(schema).work_queue"), logger: .complaintTest
            ).collect()
            let (status, attempts, due) = try queued[0].decode((String, Int, Date).self)
            #expect(status == "pending" && attempts == 0, "still to be sent, its one attempt unused")
            #expect(due > Date().addingTimeInterval(50 * 60), "due when the quiet hours end")
            #expect(try await DeliveryWorkerTests.receipts(schema: schema, client: client).isEmpty, "a hold is not an attempt: no receipt")
        }
    }

    /// The end of quiet hours is a wall-clock time read on the application's clock, and the queue compares
    /// due times with the database's: stored as the time, the message came the clocks' difference late
    /// (or early). It waits the time left instead.
    @Test("quiet hours ending in an hour: due an hour after the database's now, the application's clock 60 s ahead or behind",
          arguments: [60, -60])
    func quietHoursWaitOnTheDatabaseClock(applicationAheadBy seconds: Int) async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            try await ClockSkew.shadowClock(in: schema, applicationAheadBy: seconds, client: client)
            let (rules, performer, intent) = try Self.guestMessageInQuietHours()
            try await DeliveryWorkerTests.record(intent, attempts: 1, kind: .guest, dueAt: Date().addingTimeInterval(-300), schema: schema, client: client)
            let release = try #require(DeliveryPerformer.quietHoursRelease(of: intent, rules: rules, now: Date()))
            let (left, expected) = try await ClockSkew.withClient(shadowingClockIn: schema) { skewed in
                try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: skewed, connectionsUseSchema: true)]) {
                    let handled = try await eventually(timeout: .seconds(20)) {
                        try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client).status != "pending"
                    }
                    #expect(handled)
                }
                let expected = release.timeIntervalSinceNow
                // On the worker's database clock: how long until the message is due.
                let left = try await skewed.query(
                    PostgresQuery(unsafeSQL: "SELECT extract(epoch FROM due_at - clock_timestamp())::float8 FROM \(schema).work_queue"),
                    logger: .complaintTest).collect()[0].decode(Double.self)
                return (left, expected)
            }
            // Before: off by the clocks' difference (60 s).
            #expect(abs(left - expected) < 10, "due in \(left) s on the database's clock; the quiet hours end in \(expected) s")
            let row = try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client)
            #expect(row.status == "deferred" && row.attempts == 0 && row.error?.hasPrefix("[quiet_hours]") == true, "\(row)")
        }
    }
}
