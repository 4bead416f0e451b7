import ComplaintPipeline
import Foundation
import Logging
import ServiceLifecycle

/// Follows the endpoints' rate limits in the rules file and, when one changes (and for every endpoint
/// when the process starts), makes the messages deferred under the old limit due again, so they take
/// places under the new one (``EndpointPacer/repace(endpoint:limit:logger:)``): before, they kept their
/// old due time until a newcomer for that endpoint called, for ever for an endpoint whose limit was
/// removed (a mistaken 1/h fixed to 20/min held them up to an hour).
struct RateLimitChanges: Service {
    var rules: LiveConfiguration<NotificationRules>
    var pacer: EndpointPacer
    /// How often it looks at the rules in force (the rules file's reload interval).
    var interval: Duration
    var logger: Logger

    func run() async throws {
        // The limits whose waiting messages were re-paced; an endpoint that failed is tried again.
        var seen: [String: RateLimit?] = [:]
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            for (name, endpoint) in rules.current.endpoints where seen[name].map({ $0 != endpoint.rateLimit }) ?? true {
                do {
                    let repaced = try await pacer.repace(endpoint: name, limit: endpoint.rateLimit, logger: logger)
                    if repaced > 0 {
                        logger.notice("rate limit changed; messages waiting under the old one are due again", metadata: [
                            "endpoint": "\(name)", "limit": "\(endpoint.rateLimit.map { "\($0)" } ?? "none")", "messages": "\(repaced)",
                        ])
                    }
                    seen[name] = .some(endpoint.rateLimit)
                } catch {
                    logger.warning("could not re-pace an endpoint's waiting messages; trying again", metadata: [
                        "endpoint": "\(name)", "error": "\(error)",
                    ])
                }
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}
