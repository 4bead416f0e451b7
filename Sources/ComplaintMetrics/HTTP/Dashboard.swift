import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Access

/// The hotel manager's dashboard: plain HTML, CSS and JavaScript from `services/metrics/dashboard`, read
/// once at start and served at `/` (no build step, no registry). The page asks for an API key and then
/// reads the same API everyone else does.
public struct Dashboard: Sendable {
    /// The shipped folder, relative to the Redress home.
    public static let defaultFolder = "services/metrics/dashboard"

    /// The files served, by name, with their content types.
    static let files: [String: String] = [
        "index.html": "text/html; charset=utf-8",
        "dashboard.css": "text/css; charset=utf-8",
        "dashboard.js": "text/javascript; charset=utf-8",
    ]

    let contents: [String: ByteBuffer]

    /// Reads the dashboard's files from `folder`.
    /// - Throws: A ``MissingFile`` naming the file that is not there.
    public init(folder: String) throws {
        var contents: [String: ByteBuffer] = [:]
        for name in Self.files.keys {
            let path = URL(fileURLWithPath: folder).appendingPathComponent(name).path
            guard let data = FileManager.default.contents(atPath: path) else { throw MissingFile(path: path) }
            contents[name] = ByteBuffer(bytes: data)
        }
        self.contents = contents
    }

    /// A dashboard file is missing: the service refuses to start without its page.
    public struct MissingFile: Error, CustomStringConvertible {
        public var path: String
        public var description: String { "dashboard file \(path) not found; set METRICS_DASHBOARD to the folder holding index.html" }
    }

    public func addRoutes(to router: Router<RedressRequestContext>) {
        router.get("/") { _, _ in response("index.html") }
        router.get("dashboard/:file") { _, context in
            guard let name = context.parameters.get("file"), contents[name] != nil else { throw Problem.notFound("no such dashboard file") }
            return response(name)
        }
    }

    private func response(_ name: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: Self.files[name] ?? "application/octet-stream", .cacheControl: "no-cache",
                .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
                HTTPField.Name("Referrer-Policy")!: "no-referrer",
            ],
            body: .init(byteBuffer: contents[name] ?? ByteBuffer()))
    }
}
