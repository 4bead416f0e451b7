extension String {
    /// This text cut to `maximumScalars` Unicode scalars, NUL replaced by U+FFFD: fit for an event's
    /// text field and a PostgreSQL `text` column (both refuse NUL). For text quoted from outside — a
    /// refused input, a receiver's answer, a header key — that is recorded rather than validated.
    public func storable(maximumScalars: Int) -> String {
        String(String.UnicodeScalarView(unicodeScalars.prefix(maximumScalars).map { $0 == "\0" ? "\u{FFFD}" : $0 }))
    }
}
