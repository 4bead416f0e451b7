import Foundation

/// The `redress` executable SwiftPM built next to the test bundle, for tests that run it as an
/// operator would: as a separate process.
public enum RedressExecutable {
    public static let url: URL? = {
        var directory = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("redress")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }()
}
