import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import Testing

@Suite(.timeLimit(.minutes(2)))
struct ProcessedEventsTests {
    struct Rollback: Error {}

    @Test func duplicateEventIsReportedAsProcessed() async throws {
        try await withRuntimeTables { client, tables async throws in
            let inbox = tables.processedEvents
            let eventID = UUID()
            let first = try await client.transaction(logger: .test) { connection async throws in
                try await inbox.markProcessed(eventID: eventID, topic: "complaints.received.v1", on: connection, logger: .test)
            }
            let second = try await client.transaction(logger: .test) { connection async throws in
                try await inbox.markProcessed(eventID: eventID, topic: "complaints.received.v1", on: connection, logger: .test)
            }
            let other = try await client.transaction(logger: .test) { connection async throws in
                try await inbox.markProcessed(eventID: UUID(), topic: "complaints.received.v1", on: connection, logger: .test)
            }
            #expect(first)
            #expect(!second)
            #expect(other)
        }
    }

    @Test func markInARolledBackTransactionIsForgotten() async throws {
        try await withRuntimeTables { client, tables async throws in
            let inbox = tables.processedEvents
            let eventID = UUID()
            await #expect(throws: Rollback.self) {
                try await client.transaction(logger: .test) { connection async throws in
                    let isNew = try await inbox.markProcessed(
                        eventID: eventID, topic: "complaints.classified.v1", on: connection, logger: .test)
                    #expect(isNew)
                    #expect(try await inbox.isProcessed(eventID: eventID, on: connection, logger: .test))
                    throw Rollback()
                }
            }
            try await client.withConnection { connection async throws in
                #expect(try await !inbox.isProcessed(eventID: eventID, on: connection, logger: .test))
            }
            // Redelivered after the rollback, the event is new again.
            let redelivered = try await client.transaction(logger: .test) { connection async throws in
                try await inbox.markProcessed(eventID: eventID, topic: "complaints.classified.v1", on: connection, logger: .test)
            }
            #expect(redelivered)
        }
    }

    @Test func secondMarkInTheSameTransactionIsADuplicate() async throws {
        try await withRuntimeTables { client, tables async throws in
            let eventID = UUID()
            let results = try await client.transaction(logger: .test) { connection async throws in
                [
                    try await tables.processedEvents.markProcessed(eventID: eventID, topic: "t", on: connection, logger: .test),
                    try await tables.processedEvents.markProcessed(eventID: eventID, topic: "t", on: connection, logger: .test),
                ]
            }
            #expect(results == [true, false])
        }
    }

    @Test(arguments: [true, false])
    func concurrentConsumersAreSerialised(firstCommits: Bool) async throws {
        try await withRuntimeTables { client, tables async throws in
            let inbox = tables.processedEvents
            let eventID = UUID()
            try await client.withConnection { first async throws in
                try await first.query("BEGIN", logger: .test)
                #expect(try await inbox.markProcessed(eventID: eventID, topic: "t", on: first, logger: .test))

                // A second consumer with the same event blocks on the primary key until the first one ends.
                let second = Task {
                    try await client.transaction(logger: .test) { connection async throws in
                        try await inbox.markProcessed(eventID: eventID, topic: "t", on: connection, logger: .test)
                    }
                }
                // The second is waiting on the first's row lock before the first ends (its own statement:
                // tests running beside this one may wait for locks of their own in the same database).
                let blocked = try await eventually {
                    try await client.scalar(
                        """
                        SELECT count(*)::int FROM pg_stat_activity
                        WHERE wait_event_type = 'Lock' AND datname = current_database() AND query LIKE \("%\(tables.schema).processed_events%")
                        """, as: Int.self) > 0
                }
                #expect(blocked)
                try await first.query(firstCommits ? "COMMIT" : "ROLLBACK", logger: .test)
                // If the first consumer committed, the second sees a duplicate; if it rolled back, the second owns it.
                #expect(try await second.value == !firstCommits)
            }
        }
    }

    @Test func purgeDeletesOldMarks() async throws {
        try await withRuntimeTables { client, tables async throws in
            let old = UUID()
            let recent = UUID()
            try await client.transaction(logger: .test) { connection async throws in
                try await tables.processedEvents.markProcessed(eventID: old, topic: "t", on: connection, logger: .test)
                try await connection.query(
                    "UPDATE \(unescaped: tables.schema.rawValue).processed_events SET processed_at = now() - interval '40 days' WHERE event_id = \(old)",
                    logger: .test)
                try await tables.processedEvents.markProcessed(eventID: recent, topic: "t", on: connection, logger: .test)
            }
            try await client.withConnection { connection async throws in
                let purged = try await tables.processedEvents.purge(
                    processedBefore: Date().addingTimeInterval(-30 * 86_400), on: connection, logger: .test)
                #expect(purged == 1)
                #expect(try await !tables.processedEvents.isProcessed(eventID: old, on: connection, logger: .test))
                #expect(try await tables.processedEvents.isProcessed(eventID: recent, on: connection, logger: .test))
            }
        }
    }
}
