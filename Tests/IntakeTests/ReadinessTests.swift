import ComplaintPipeline
import ComplaintTesting
import Intake
import Logging
import Testing

/// Intake's readiness (what a load balancer routes submissions by) must not depend on Kafka: its API
/// writes PostgreSQL and the outbox, which publishes once the broker is back.
@Suite("Intake readiness")
struct IntakeReadinessTests {
    @Test("intake's /health/ready leaves Kafka out; the consuming stages keep it")
    func kafkaLeftOut() {
        let settings = ServiceSettings(
            kafkaBrokers: ["127.0.0.1:1"], databaseURL: "postgres://redress@127.0.0.1:1/redress", httpHost: "127.0.0.1", httpPort: 0,
            logLevel: .warning, shutdownTimeout: .seconds(5))
        let intake = IntakeService.runtime(
            settings: settings, configuration: IntakeConfiguration(guestKeySecret: "test-guest-key-secret-0123456789"), logger: .complaintTest)
        #expect(!intake.readinessIncludesKafka)
        #expect(StageRuntime(service: .classifier, settings: settings, inputs: [], logger: .complaintTest).readinessIncludesKafka)
    }
}
