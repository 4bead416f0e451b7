import Hummingbird
import Logging
import NIOCore

/// Makes every error of every route an RFC 9457 problem: a body over its limit (also when sent
/// chunked, where NIOCore throws `NIOTooManyBytesError`) becomes 413, Hummingbird's own HTTP errors
/// keep their status, and anything unexpected is logged at `error` and answered 500 — never a
/// bare status or a stack trace.
///
/// - Important: Add it to the router before any route: a router's middleware applies only to routes
///   added after it.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw problem
        } catch let error as NIOTooManyBytesError {
            throw Problem.tooLarge(limit: error.maxBytes ?? context.maxUploadSize)
        } catch let error as HTTPError {
            throw Problem(error.status, type: "http", title: error.status.reasonPhrase, detail: error.body ?? error.status.reasonPhrase)
        } catch {
            context.logger.error("request failed", metadata: ["http.path": "\(RequestRedaction.redacted(request.uri.path))", "error": "\(String(reflecting: error))"])
            throw Problem.internalError()
        }
    }
}
