extension Duration {
    /// Whole milliseconds, rounded down (for intervals handed to SQL).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
