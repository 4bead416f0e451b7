import Foundation

/// Finds the files a service ships under `services/<name>/` (migrations, rules, policies, templates):
/// in the working directory, under `REDRESS_HOME`, or next to (or above) the executable — so the same
/// lookup works from the repository, from `.build/debug/`, and in the container (`/app`).
public enum ServiceFiles {
    /// The places `relativePath` is looked for, in order.
    public static func candidates(
        _ relativePath: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        executable: URL = ServiceFiles.executable
    ) -> [String] {
        var candidates = [relativePath]
        if let home = environment["REDRESS_HOME"], !home.isEmpty { candidates.append((home as NSString).appendingPathComponent(relativePath)) }
        var directory = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(directory.appendingPathComponent(relativePath).path)
            directory = directory.deletingLastPathComponent()
        }
        return candidates
    }

    /// The running executable, from the kernel (`/proc/self/exe`), not from `argv[0]`: a command run by
    /// its bare name from `PATH` (as `docker/database-url.sh`'s `exec "$@"` does) has a bare `argv[0]`,
    /// whose folder would be the working directory.
    public static let executable: URL = {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"), path.hasPrefix("/") {
            return URL(fileURLWithPath: path)
        }
        if let url = Bundle.main.executableURL { return url }
        return URL(fileURLWithPath: CommandLine.arguments.first ?? ".")
    }()

    /// The first existing candidate for `relativePath`, or `relativePath` unchanged when none exists
    /// (so an error names the path the operator expects).
    public static func locate(_ relativePath: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        candidates(relativePath, environment: environment).first { FileManager.default.fileExists(atPath: $0) } ?? relativePath
    }

    /// The first existing folder for `relativePath`, or `nil`.
    public static func locateFolder(_ relativePath: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        for candidate in candidates(relativePath, environment: environment) {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), isDirectory.boolValue {
                return URL(fileURLWithPath: candidate, isDirectory: true)
            }
        }
        return nil
    }
}
