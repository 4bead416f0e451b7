#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Flushes stdout, so that a parent process reading our first line sees it at once.
func fflushStandardOutput() {
    // fflush(NULL) flushes every output stream and avoids touching the global `stdout`.
    fflush(nil)
}
