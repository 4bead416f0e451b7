import ComplaintTesting
import Foundation
import Hummingbird
import Testing

/// `redress loadgen` prints figures that scripts and notes quote: a run in which intake refused the
/// requests must not pass for a measurement.
@Suite("redress loadgen", .timeLimit(.minutes(2)))
struct LoadgenTests {
    @Test("refused requests are not throughput: the command exits 1 and says the figures are not a measurement")
    func refusalsFail() async throws {
        let executable = try #require(RedressExecutable.url, "redress not built")
        let router = Router()
        router.post("/v1/complaints") { _, _ -> Response in
            Response(status: .unauthorized, body: .init(byteBuffer: .init(string: #"{"title":"unknown key"}"#)))
        }
        try await withLoopbackServer(router) { base in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loadgen-\(UUID().uuidString.prefix(8))").path
            let run = try ChildProcess(
                executable, arguments: ["loadgen", "--url", base, "--key", "rdk_abcdefghij_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                        "--requests", "20", "--warmup", "0", "--concurrency", "2", "--data-dir", folder],
                removing: ["INTAKE_URL", "REDRESS_ADMIN_KEY", "REDRESS_UP_ENV"])
            defer { run.stop() }
            try #require(await eventually(timeout: .seconds(60)) { !run.isRunning }, "loadgen did not finish: \(run.output)")
            #expect(run.process.terminationStatus == 1, "\(run.output)")
            #expect(run.output.contains("not a measurement"), "\(run.output)")
            #expect(run.output.contains("HTTP 401"), "\(run.output)")
        }
    }
}
