import EmbeddedDefault
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Where `redress demo` delivers what the notifier sends, so nothing leaves the machine: a real SMTP
/// server (Debian's python3-aiosmtpd, `tools/smtp_sink.py`) writing every mail to `<data-dir>/mailbox/`,
/// and an HTTP receiver on 127.0.0.1:8089 — the shipped notifier rules' default address for the chat
/// robots and the SMS gateway — writing every call to `<data-dir>/webhooks.jsonl`.
enum DemoMailbox {
    static let webhookPort = 8089
    static let webhookLogLock = NSLock()

    /// Starts the SMTP server on `port`, or says why it cannot (python3-aiosmtpd missing). Returns once it
    /// listens; released, it is killed.
    static func startSMTP(port: Int, folder: URL, logger: Logger) async throws -> LaunchedProgram {
        // A fresh mailbox per demo: the sink numbers its files from 1 and the script reuses addresses.
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let script = ["tools/smtp_sink.py", (ProcessInfo.processInfo.environment["REDRESS_HOME"] ?? ".") + "/tools/smtp_sink.py"]
            .first { FileManager.default.fileExists(atPath: $0) } ?? "tools/smtp_sink.py"
        let (lines, printed) = AsyncStream.makeStream(of: String.self)
        let process = try await LaunchedProgram.launch(
            "/usr/bin/python3", arguments: [script, String(port), folder.path], output: .lines { printed.yield($0) })
        // It prints READY once listening; exiting first means it could not start (aiosmtpd missing, port taken).
        // A minute at most: python's start may take seconds on a loaded machine.
        let ready = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await line in lines where line.contains("READY") { return true }
                return false
            }
            group.addTask {
                _ = await process.exited()
                return false
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        printed.finish()
        guard ready, process.isRunning else {
            _ = await process.stop(grace: .seconds(5))
            throw DemoError("the SMTP server did not start on 127.0.0.1:\(port)")
        }
        return process
    }

    /// The survey links in the mails to `address`, oldest first.
    static func surveyLinks(in folder: URL, to address: String) -> [String] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".json") }
            .sorted { (Int($0.dropLast(5)) ?? 0) < (Int($1.dropLast(5)) ?? 0) }
        var links: [String] = []
        for file in files {
            let base = folder.appendingPathComponent(String(file.dropLast(5)))
            guard let meta = (try? JSONSerialization.jsonObject(with: Data(contentsOf: base.appendingPathExtension("json")))) as? [String: Any],
                (meta["to"] as? [String])?.contains(address) == true,
                let raw = try? String(contentsOf: base.appendingPathExtension("eml"), encoding: .utf8)
            else { continue }
            for text in decodedParts(raw) {
                if let range = text.range(of: #"https?://[^\s"<>]+/survey/[A-Za-z0-9._~-]+"#, options: .regularExpression) {
                    links.append(String(text[range]))
                    break
                }
            }
        }
        return links
    }

    /// The base64 MIME parts of a message, decoded.
    static func decodedParts(_ raw: String) -> [String] {
        raw.components(separatedBy: "Content-Transfer-Encoding: base64\r\n\r\n").dropFirst().compactMap { section in
            let encoded = section.components(separatedBy: "\r\n\r\n").first?.components(separatedBy: "\r\n--").first ?? ""
            return Data(base64Encoded: encoded.replacingOccurrences(of: "\r\n", with: "")).flatMap { String(data: $0, encoding: .utf8) }
        }
    }

    /// The HTTP receiver: answers each call as the real service would (`{"errcode":0}` for the Chinese
    /// robots, `ok` for Slack) and appends `{"time","path","body"}` to `log`.
    static func webhookReceiver(log: URL, logger: Logger) -> some Service {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let router = Router()
        router.post("**") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let entry: [String: Any] = [
                "time": ISO8601DateFormatter().string(from: Date()), "path": request.uri.path, "body": String(buffer: body),
            ]
            if let line = try? JSONSerialization.data(withJSONObject: entry) {
                // One writer at a time: concurrent calls must not interleave their lines.
                webhookLogLock.withLock {
                    if let handle = try? FileHandle(forWritingTo: log) {
                        handle.seekToEndOfFile()
                        handle.write(line + Data("\n".utf8))
                        try? handle.close()
                    }
                }
            }
            let answer = request.uri.path.hasSuffix("slack") ? "ok" : #"{"errcode":0,"errmsg":"ok"}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        var quiet = logger
        quiet.logLevel = .warning
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: webhookPort)), logger: quiet)
    }
}
