extension String {
    /// The string without trailing `\n` / `\r` characters (for one-line outputs of commands and files).
    func trimmingTrailingNewlines() -> String {
        var result = self
        while result.hasSuffix("\n") || result.hasSuffix("\r") {
            result.removeLast()
        }
        return result
    }
}
