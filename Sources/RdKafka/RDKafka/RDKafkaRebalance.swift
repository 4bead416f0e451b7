import CRdKafka
import Logging
import NIOConcurrencyHelpers

/// A consumer's rebalance callback and what it needs: librdkafka hands partitions over only through it,
/// so the application can let go of revoked partitions (drop what it read ahead of them, finish and
/// store what it is applying) before another member fetches them from the committed offset.
///
/// The callback runs on the thread that polls the consumer (inside `rd_kafka_consumer_poll` or
/// `rd_kafka_consumer_close`); the object is librdkafka's opaque pointer and lives as long as the handle.
final class RDKafkaRebalance: Sendable {
    /// Told the partitions being revoked, before the consumer lets go of them; must return soon (it holds
    /// up the poll, and with eager assignors the whole group's rebalance).
    typealias RevocationHandler = @Sendable ([(topic: String, partition: Int32)]) -> Void

    private struct State {
        var handler: RevocationHandler?
        /// How many revocations have happened, and the partitions of the latest few, by their number:
        /// a poll that gathers a batch across a revocation drops what it took of the revoked partitions.
        var revocations = 0
        var recent: [(number: Int, partitions: Set<PartitionKey>)] = []
    }

    struct PartitionKey: Hashable {
        var topic: String
        var partition: Int32
    }

    private let state = NIOLockedValueBox(State())
    private let commitsOnRevocation: Bool
    private let logger: Logger

    /// - Parameter commitsOnRevocation: Commit the stored offsets synchronously before letting revoked
    ///   partitions go (when auto-commit is on: the new owner then starts after what this one applied).
    init(commitsOnRevocation: Bool, logger: Logger) {
        self.commitsOnRevocation = commitsOnRevocation
        self.logger = logger
    }

    func setRevocationHandler(_ handler: RevocationHandler?) {
        state.withLockedValue { $0.handler = handler }
    }

    var revocationCount: Int { state.withLockedValue { $0.revocations } }

    /// The partitions revoked after revocation number `count`.
    func revoked(since count: Int) -> Set<PartitionKey> {
        state.withLockedValue { state in
            state.recent.filter { $0.number > count }.reduce(into: Set()) { $0.formUnion($1.partitions) }
        }
    }

    /// Registers the callback on `conf`, with this object as the opaque pointer.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf) { handle, error, partitions, opaque in
            guard let handle, let opaque else { return }
            Unmanaged<RDKafkaRebalance>.fromOpaque(opaque).takeUnretainedValue().rebalance(handle, error, partitions)
        }
    }

    private func rebalance(_ handle: OpaquePointer, _ error: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } == "COOPERATIVE"
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            guard let partitions else { return }
            if cooperative {
                report(rd_kafka_incremental_assign(handle, partitions), "incremental assign")
            } else {
                let result = rd_kafka_assign(handle, partitions)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR { logger.warning("assign failed", metadata: ["error.code": "\(String(cString: rd_kafka_err2name(result)))"]) }
            }
            // A partition this consumer owned before keeps librdkafka's pause flag across the revocation; its
            // reader starts afresh (nothing queued, not paused), so it fetches.
            if let copy = rd_kafka_topic_partition_list_copy(partitions) {
                _ = rd_kafka_resume_partitions(handle, copy)
                rd_kafka_topic_partition_list_destroy(copy)
            }
            logger.debug("partitions assigned", metadata: ["kafka.partitions": "\(Self.elements(partitions))", "kafka.rebalance.protocol": "\(cooperative ? "cooperative" : "eager")"])
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let revoked = partitions.map(Self.elements) ?? []
            revoke(revoked, lost: rd_kafka_assignment_lost(handle) != 0, handle: handle)
            if cooperative, let partitions {
                report(rd_kafka_incremental_unassign(handle, partitions), "incremental unassign")
            } else {
                _ = rd_kafka_assign(handle, nil)
            }
            logger.debug("partitions revoked", metadata: ["kafka.partitions": "\(revoked)"])
        default:
            // librdkafka: on any other error, clear the assignment to bring the state back in step.
            logger.warning("rebalance failed; clearing the assignment", metadata: ["error.code": "\(String(cString: rd_kafka_err2name(error)))"])
            var current: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            var owned: [(topic: String, partition: Int32)] = []
            if rd_kafka_assignment(handle, &current) == RD_KAFKA_RESP_ERR_NO_ERROR, let current {
                owned = Self.elements(current)
                rd_kafka_topic_partition_list_destroy(current)
            }
            revoke(owned, lost: true, handle: handle)
            _ = rd_kafka_assign(handle, nil)
        }
    }

    /// Tells the handler, then commits what it stored (unless the partitions were lost: another member
    /// may own them already).
    private func revoke(_ partitions: [(topic: String, partition: Int32)], lost: Bool, handle: OpaquePointer) {
        let handler = state.withLockedValue { state -> RevocationHandler? in
            state.revocations += 1
            state.recent.append((state.revocations, Set(partitions.map { PartitionKey(topic: $0.topic, partition: $0.partition) })))
            if state.recent.count > 16 { state.recent.removeFirst(state.recent.count - 16) }
            return state.handler
        }
        guard !partitions.isEmpty else { return }
        handler?(partitions)
        if commitsOnRevocation && !lost {
            let result = rd_kafka_commit(handle, nil, 0)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR && result != RD_KAFKA_RESP_ERR__NO_OFFSET {
                // The next owner then starts from the previous commit (re-reads what the inbox skips). A
                // Kafka broker accepts the commit while the rebalance waits for members to rejoin;
                // librdkafka's mock cluster refuses it (REBALANCE_IN_PROGRESS).
                logger.debug("commit before revocation failed", metadata: ["error.code": "\(String(cString: rd_kafka_err2name(result)))"])
            }
        }
    }

    private func report(_ error: OpaquePointer?, _ operation: String) {
        guard let error else { return }
        logger.warning("\(operation) failed", metadata: ["error": "\(String(cString: rd_kafka_error_string(error)))"])
        rd_kafka_error_destroy(error)
    }

    private static func elements(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [(topic: String, partition: Int32)] {
        (0..<Int(list.pointee.cnt)).map { (String(cString: list.pointee.elems[$0].topic), list.pointee.elems[$0].partition) }
    }
}
