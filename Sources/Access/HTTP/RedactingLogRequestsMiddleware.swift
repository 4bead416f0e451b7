import HTTPTypes
import Hummingbird
import Logging

/// Hummingbird's `LogRequestsMiddleware` without the credentials some paths carry: a guest's survey
/// link (`/survey/<token>`) is its own credential, so the segment after `survey` is logged as
/// `<redacted>`. Same message and metadata keys as Hummingbird's (`hb.request.path`, `hb.request.method`).
public struct RedactingLogRequestsMiddleware<Context: RequestContext>: RouterMiddleware {
    let logLevel: Logger.Level

    public init(_ logLevel: Logger.Level) {
        self.logLevel = logLevel
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        context.logger.log(level: logLevel, "Request", metadata: [
            "hb.request.path": .string(RequestRedaction.redacted(request.uri.description)),
            "hb.request.method": .string(request.method.rawValue),
        ])
        return try await next(request, context)
    }
}

/// Paths as logs may show them.
public enum RequestRedaction {
    /// Path segments whose next segment is a credential.
    static let credentialParents: Set<Substring> = ["survey"]

    /// `path` (a path, or a URI with its query) with each segment after `survey` replaced by `<redacted>`:
    /// `/survey/v1.abc.123.sig` → `/survey/<redacted>`.
    public static func redacted(_ path: String) -> String {
        guard path.contains("survey") else { return path }
        let (route, query) = path.firstIndex(of: "?").map { (path[..<$0], path[$0...]) } ?? (path[...], "")
        var segments = route.split(separator: "/", omittingEmptySubsequences: false)
        for index in segments.indices.dropLast() where credentialParents.contains(segments[index]) && !segments[index + 1].isEmpty {
            segments[index + 1] = "<redacted>"
        }
        return segments.joined(separator: "/") + query
    }
}
