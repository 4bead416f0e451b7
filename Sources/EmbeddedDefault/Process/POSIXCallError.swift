#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed POSIX call, with its `errno`.
struct POSIXCallError: Error, CustomStringConvertible {
    var call: String
    var errno: Int32

    var description: String {
        "\(self.call) failed: \(String(cString: strerror(self.errno))) (errno \(self.errno))"
    }
}
