import ComplaintPipeline
import Foundation
import Logging
import ServiceLifecycle

/// Follows the endpoints' rate limits in the rules file and, when one changes (and for every endpoint
/// when the process starts), makes the messages deferred under the old limit due again, so they take
/// places under the new one (``EndpointPacer/repace(endpoint:limit:logger:)``): before, they kept their
/// old due time until a newcomer for that endpoint called, for ever for an endpoint whose limit was
/// removed (a mistaken 1/h fixed to 20/min held them up to an hour). Each pass also purges the pacing
/// rows of endpoints no longer called (``EndpointPacer/purge(logger:)``), which a delivery's pacing
/// statement did under its endpoint's row lock. A failing database ends the pass at its first error,
/// logged once, and the next pass waits twice as long (up to a minute).
struct RateLimitChanges: Service {
    var rules: LiveConfiguration<NotificationRules>
    var pacer: EndpointPacer
    /// How often it looks at the rules in force (the rules file's reload interval).
    var interval: Duration
    var logger: Logger

    func run() async throws {
        // The limits whose waiting messages were re-paced; an endpoint that failed is tried again.
        var seen: [String: RateLimit?] = [:]
        var wait = interval
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var failure: (any Error)?
            var left = 0
            let changed = rules.current.endpoints.filter { name, endpoint in seen[name].map { $0 != endpoint.rateLimit } ?? true }
            for (name, endpoint) in changed {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                if failure != nil {
                    left += 1
                    continue
                }
                do {
                    let repaced = try await pacer.repace(endpoint: name, limit: endpoint.rateLimit, logger: logger)
                    if repaced > 0 {
                        logger.notice("rate limit changed; messages waiting under the old one are due again", metadata: [
                            "endpoint": "\(name)", "limit": "\(endpoint.rateLimit.map { "\($0)" } ?? "none")", "messages": "\(repaced)",
                        ])
                    }
                    seen[name] = .some(endpoint.rateLimit)
                } catch {
                    // The database is likely down: the other endpoints would fail the same way, each after
                    // the lock timeout. One line, and the pass is tried again after a longer wait.
                    failure = error
                    left = 1
                }
            }
            if failure == nil {
                do {
                    _ = try await pacer.purge(logger: logger)
                } catch {
                    failure = error
                }
            }
            if let failure {
                wait = min(wait * 2, max(interval, .seconds(60)))
                logger.warning("could not re-pace endpoints' waiting messages or purge old pacing rows; trying again", metadata: [
                    "endpoints_left": "\(left)", "retry_in": "\(wait)", "error": "\(failure)",
                ])
            } else {
                wait = interval
            }
            let pause = wait
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            } catch {
                return
            }
        }
    }
}
