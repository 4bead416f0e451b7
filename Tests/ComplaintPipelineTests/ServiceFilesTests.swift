import ComplaintPipeline
import Foundation
import Testing

/// A service run by its bare name from `PATH` looked for its files in the working directory instead of
/// next to its executable: `argv[0]` was the bare name.
@Suite("Service files")
struct ServiceFilesTests {
    @Test("the executable is the running program's absolute path, whatever argv[0] says")
    func executableFromTheKernel() throws {
        let kernel = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        #expect(ServiceFiles.executable.path == kernel)
        #expect(ServiceFiles.executable.path.hasPrefix("/"))
    }

    @Test("files are found next to the executable and in the folders above it, after the working directory and REDRESS_HOME")
    func candidatesNextToTheExecutable() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("files-\(UUID().uuidString)")
        let bin = root.appendingPathComponent("app/bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let migrations = root.appendingPathComponent("app/services/intake/migrations")
        try FileManager.default.createDirectory(at: migrations, withIntermediateDirectories: true)

        let executable = bin.appendingPathComponent("redress-intake")
        let candidates = ServiceFiles.candidates("services/intake/migrations", environment: ["REDRESS_HOME": "/opt/redress"], executable: executable)
        #expect(candidates.prefix(3) == [
            "services/intake/migrations",
            "/opt/redress/services/intake/migrations",
            bin.appendingPathComponent("services/intake/migrations").path,
        ])
        #expect(candidates.contains(migrations.resolvingSymlinksInPath().path) || candidates.contains(migrations.path))
    }
}
