import Foundation

/// `.redress/up.env`: where `redress up` put things, as shell-sourceable `NAME='value'` lines, so a
/// developer can `source .redress/up.env` and point `kcat`, `psql` or `redress tail` at the stack.
public struct UpEnvironmentFile: Sendable, Hashable {
    /// Variables in the order they are written.
    public var variables: [(name: String, value: String)]

    /// Set in the file to its own path: a shell that sourced it carries the variable, so the `redress`
    /// commands know its `KAFKA_BROKERS` and `DATABASE_URL` came from a file that a later `redress up`
    /// rewrites (new ports each run) and read the file again instead of trusting the shell's copy.
    public static let sourcedVariable = "REDRESS_UP_ENV"
    /// Set in the file to ``digest(of:)`` of what it says for the ``runVariables``: a shell whose values
    /// still match it has them from sourcing (stale after a restart), not from someone setting them since.
    public static let digestVariable = "REDRESS_UP_ENV_DIGEST"
    /// What changes with every run of `redress up` (its broker's and database's ports).
    public static let runVariables = ["KAFKA_BROKERS", "DATABASE_URL"]

    /// A digest of `value(name)` for the ``runVariables`` (FNV-1a, hex): stable across processes.
    public static func digest(of value: (String) -> String?) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for name in runVariables {
            for byte in "\(name)=\(value(name) ?? "")\n".utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
        }
        return String(hash, radix: 16)
    }

    public init(variables: [(name: String, value: String)]) {
        self.variables = variables
    }

    public static func == (lhs: UpEnvironmentFile, rhs: UpEnvironmentFile) -> Bool {
        lhs.variables.elementsEqual(rhs.variables) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for (name, value) in variables {
            hasher.combine(name)
            hasher.combine(value)
        }
    }

    /// The file's text: single-quoted values, with embedded quotes escaped for POSIX shells.
    public var contents: String {
        var text = "# Written by `redress up`; source it: . .redress/up.env\n"
        for (name, value) in variables {
            let quoted = "'" + value.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
            text += "export \(name)=\(quoted)\n"
        }
        return text
    }

    /// Writes the file readable by its owner only (it holds the development database password).
    public func write(to path: String) throws {
        // Made 0600 before the text goes in, then renamed into place: never readable by others, even briefly.
        let staging = path + ".tmp"
        try? FileManager.default.removeItem(atPath: staging)
        guard FileManager.default.createFile(atPath: staging, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: staging])
        }
        try Data(contents.utf8).write(to: URL(fileURLWithPath: staging))
        guard rename(staging, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    /// Reads a file written by ``write(to:)`` (`export NAME='value'` lines); nil when there is none.
    public static func read(from path: String) -> UpEnvironmentFile? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var variables: [(name: String, value: String)] = []
        for line in text.split(separator: "\n") where line.hasPrefix("export ") {
            let assignment = line.dropFirst("export ".count)
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            var value = String(assignment[assignment.index(after: equals)...])
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 {
                value = String(value.dropFirst().dropLast()).replacingOccurrences(of: #"'\''"#, with: "'")
            }
            variables.append((String(assignment[..<equals]), value))
        }
        return UpEnvironmentFile(variables: variables)
    }

    /// The value of `name`, if the file sets it.
    public func value(of name: String) -> String? { variables.last { $0.name == name }?.value }
}
