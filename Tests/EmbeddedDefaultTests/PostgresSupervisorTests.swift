import ComplaintStore
import ComplaintTesting
import EmbeddedDefault
import Foundation
import Logging
import PostgresNIO
import RdKafkaTestKit
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("The embedded default supervises its PostgreSQL", .timeLimit(.minutes(3)), .enabled(if: TestEnvironment.hasLocalPostgres))
struct PostgresSupervisorTests {
    @Test("a killed postmaster is restarted on the same URL, and a client recovers without a restart")
    func restartsAKilledServer() async throws {
        let server = EmbeddedPostgres(configuration: .forTesting, logger: .complaintTest)
        let configuration = try await server.start()
        let firstPID = try #require(await server.processID)
        let supervisor = PostgresSupervisor(server: server, initialDelay: .milliseconds(100), logger: .complaintTest)
        try await withRunningServices([supervisor]) {
            try await withClient(configuration) { client async throws in
                #expect(try await client.scalar("SELECT 1", as: Int.self) == 1)
                kill(firstPID, SIGKILL)
                let restarted = await eventually(timeout: .seconds(60)) {
                    guard let pid = await server.processID, pid != firstPID else { return false }
                    return (try? await client.scalar("SELECT 2", as: Int.self)) == 2
                }
                #expect(restarted, "the same client works again against the restarted server")
            }
        }
        #expect(await server.isRunning == false, "graceful shutdown stopped the server")
        try await server.tearDown()
    }
}
