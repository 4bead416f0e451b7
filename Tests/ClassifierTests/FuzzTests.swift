import Access
import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import RdKafkaTestKit
import Testing

/// The staff correction route and the operational routes fuzzed from the classifier's OpenAPI document
/// (``Schemathesis``), with the document's example complaint classified, so corrections are applied
/// and replayed as well as refused.
@Suite("Schemathesis against the classifier API", .timeLimit(.minutes(5)), .enabled(if: Schemathesis.executable != nil, "schemathesis (st) is not installed"))
struct ClassifierFuzzTests {
    /// The `id` example of `services/classifier/openapi.yaml`.
    static let exampleComplaint = UUID(uuidString: "0e7c2a52-5d0e-4c38-9d6c-2f1f6c0b7a11")!

    @Test("no 5xx and no undocumented response in a bounded run")
    func fuzz() async throws {
        let kafka = try KafkaTestEnvironment()
        var stage = try await TestClassifierStage(kafka)
        let service = stage.service
        stage.runtime.backgroundServices.append(ClassifierService.retentionService(ClassifierRetention.Configuration()))

        try await withIsolatedStage(stage.runtime) { base, client in
            let store = StageStore(client: client, schema: service.schema, logger: .complaintTest)
            let classification = await Repository.engine.classify(ComplaintInput(text: "The bedside lamp flickers now and then."))
            let now = Date()
            try await store.write { connection, logger in
                _ = try await ClassificationStore().save(
                    classification, complaintID: Self.exampleComplaint, hotelID: "TST-F01", classifiedAt: now, registeredAt: now,
                    on: connection, logger: logger)
                return ((), [])
            }
            let keys = APIKeyStore(cacheLifetime: .zero)
            let run = try await Schemathesis.run(service: "classifier", base: base, keys: keys, client: client)
            let passed = run.passed
            #expect(passed, "schemathesis found problems:\n\(run.tail)")
            // The example complaint was corrected at least once.
            let corrections = try await client.scalar(
                "SELECT count(*)::int FROM \(unescaped: service.schema.rawValue).classification_corrections", as: Int.self)
            #expect(corrections > 0, "no correction was applied: the run only met refusals")
        }
    }
}
