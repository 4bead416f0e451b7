import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Logging
import PostgresNIO

/// Runs a stage's handler on one event in one transaction of `store`, as the stage would (the events
/// it returns go to the outbox), without Kafka: for tests that order events themselves — concurrent
/// transactions, events of one complaint arriving on different topics out of the usual order.
/// `beforeCommit` runs inside the transaction after the handler (a test holding it open).
public func handleDirectly<Handler: EventHandler>(
    _ event: EventEnvelope<Handler.Input>, with handler: Handler, store: StageStore, schema: SchemaName,
    beforeCommit: @Sendable () async -> Void = {}
) async throws -> [OutgoingEvent] {
    try await store.write { connection, logger in
        let events = try await handler.handle(event, context: handlerContext(connection, logger, schema))
        await beforeCommit()
        return (events, events)
    }
}

/// The same for a handler that prepares outside the transaction (plugins, a dispatcher call).
public func handleDirectly<Handler: PreparingEventHandler>(
    _ event: EventEnvelope<Handler.Input>, with handler: Handler, store: StageStore, schema: SchemaName,
    beforeCommit: @Sendable () async -> Void = {}
) async throws -> [OutgoingEvent] {
    let prepared = try await handler.prepare(event, context: PreparationContext(logger: .complaintTest, store: store))
    return try await store.write { connection, logger in
        let events = try await handler.handle(event, prepared: prepared, context: handlerContext(connection, logger, schema))
        await beforeCommit()
        return (events, events)
    }
}

private func handlerContext(_ connection: PostgresConnection, _ logger: Logger, _ schema: SchemaName) -> HandlerContext {
    HandlerContext(
        logger: logger, connection: connection, origin: MessageOrigin(topic: "test", partition: 0, offset: 0), attempt: 1,
        workQueue: WorkQueue(schema: schema))
}
