/// The inbox, outbox and work queue that every service keeps in its own schema, and the migrations that create them.
///
/// A service writes only its own schema (DESIGN §5), so each has its own `processed_events` and `outbox`;
/// `RuntimeTables(schema: "classifier")` addresses `classifier.processed_events` and `classifier.outbox`. The
/// tables come from one SQL template (`Migrations/_templates/runtime/`), instantiated per schema and recorded on
/// that schema's `runtime` track, so a fix to the template reaches every service as a new numbered migration.
public struct RuntimeTables: Sendable {
    /// The ledger track of the runtime tables.
    public static let track = "runtime"

    /// The service's schema.
    public let schema: SchemaName
    /// The inbox: `<schema>.processed_events`.
    public let processedEvents: ProcessedEvents
    /// The outbox: `<schema>.outbox`.
    public let outbox: Outbox
    /// The work queue of calls to the outside world: `<schema>.work_queue`.
    public let workQueue: WorkQueue

    /// Addresses the runtime tables of `schema`.
    public init(schema: SchemaName) {
        self.schema = schema
        self.processedEvents = ProcessedEvents(schema: schema)
        self.outbox = Outbox(schema: schema)
        self.workQueue = WorkQueue(schema: schema)
    }

    /// The migrations that create and evolve the runtime tables of ``schema``; apply them with ``Migrator``.
    ///
    /// - Throws: A ``ComplaintStoreError`` if the module's resource bundle lacks the template.
    public func migrations() throws -> MigrationSet {
        try MigrationSet.bundledTemplate(Self.track, schema: self.schema)
    }
}
