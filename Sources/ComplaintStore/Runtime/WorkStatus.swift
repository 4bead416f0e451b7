/// Where an intent of the ``WorkQueue`` stands; the `status` column holds the raw value.
public enum WorkStatus: String, Sendable, Hashable, CaseIterable {
    /// Not done yet: due now or later (a retry waits for its `due_at`).
    case pending
    /// The call was made and its outcome recorded.
    case succeeded
    /// Given up: a permanent failure, or the attempts ran out. `last_error` says why.
    case failed
}
