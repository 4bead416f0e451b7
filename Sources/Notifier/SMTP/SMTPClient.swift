import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A small SMTP submission client on SwiftNIO: EHLO, STARTTLS when the server offers it (or always, when
/// required), AUTH PLAIN or LOGIN when credentials are configured, one message to its recipients, QUIT.
/// No SMTP package exists among the registries this project may use; this covers what a notifier needs
/// (RFC 5321 submission with RFC 3207 STARTTLS and RFC 4954 AUTH), nothing more.
public struct SMTPClient: Sendable {
    /// How to reach and talk to the server.
    public struct Configuration: Sendable, Hashable {
        public var host: String
        public var port: Int
        public var tls: TLSMode
        /// PEM certificates to trust instead of the system's (a private relay's CA).
        public var trustRootsFile: String?
        public var username: String?
        public var password: String?
        /// The name this client gives in EHLO.
        public var clientName: String
        /// For connecting and for each reply but the one to the message itself.
        public var timeout: Duration
        /// For the reply to the message (after its final `.`), which a relay gives only once it has
        /// scanned and queued it: giving up sooner would send the message again though it was queued.
        /// RFC 5321 suggests 10 minutes.
        public var endOfDataTimeout: Duration = .seconds(180)
        /// For the whole exchange, connecting included: inside the delivery worker's 5-minute lease, so
        /// no other replica takes the message over while this one may still be sending it.
        public var totalTimeout: Duration = .seconds(240)

        public init(
            host: String, port: Int = 25, tls: TLSMode = .opportunistic, trustRootsFile: String? = nil, username: String? = nil,
            password: String? = nil, clientName: String = "redress-notifier.localdomain", timeout: Duration = .seconds(30)
        ) {
            self.host = host
            self.port = port
            self.tls = tls
            self.trustRootsFile = trustRootsFile
            self.username = username
            self.password = password
            self.clientName = clientName
            self.timeout = timeout
        }
    }

    /// When to encrypt.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// STARTTLS when the server offers it, plain otherwise.
        case opportunistic
        /// STARTTLS or refuse to send.
        case required
        /// Never (a relay on the same host).
        case off
    }

    /// A server's answer: the code and the text of its lines.
    public struct Reply: Sendable, Hashable, CustomStringConvertible {
        public var code: Int
        public var lines: [String]
        public var description: String { "\(code) \(lines.joined(separator: " / "))" }
    }

    /// A send that did not succeed: the step, and the server's reply if it gave one.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// Where a send failed: connecting, waiting, a refusal, no TLS, or a reply out of protocol.
        public enum Kind: Sendable { case connection, timeout, rejected, tlsUnavailable, protocolError }
        public var kind: Kind
        public var step: String
        public var reply: Reply?
        public var detail: String?
        public var description: String {
            "SMTP \(step): " + (reply.map { "server answered \($0)" } ?? detail ?? "\(kind)") + (reply != nil && !isPermanent ? Self.setting(for: step).map { " (check \($0))" } ?? "" : "")
        }
        /// The steps whose refusal is about this message: its recipient, and the message itself.
        static let messageSteps: Set<String> = ["rcpt to", "end of data"]

        /// A 5xx answer to the recipient or to the message: retrying the same message cannot help.
        /// A refusal before (the greeting, EHLO, STARTTLS, AUTH, MAIL FROM; no STARTTLS where it is needed)
        /// is about the settings — a rotated password, a sender the relay does not allow — and fixing them
        /// should bring the message back, so it is retried like a relay that is down.
        public var isPermanent: Bool {
            guard let reply, reply.code >= 500 else { return false }
            return Self.messageSteps.contains(step)
        }

        /// What to look at when the server refuses a step that is not about the message.
        static func setting(for step: String) -> String? {
            switch step {
            case "auth": "SMTP_USERNAME and SMTP_PASSWORD"
            case "mail from": "SMTP_FROM"
            case "starttls": "SMTP_TLS"
            default: nil
            }
        }
    }

    public var configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Sends `message` (CRLF lines, headers and body) from `sender` to `recipients`, within
    /// ``Configuration/totalTimeout`` from before connecting.
    /// - Returns: The server's answer to the end of the data (`250 2.0.0 Ok: queued as …`).
    /// - Throws: ``Failure``; ``ComplaintPipeline/WorkLeaseRunningOut``, before connecting, when the work item
    ///   being delivered has less than ``Configuration/totalTimeout`` left of its lease (``ComplaintPipeline/WorkLease``).
    public func send(from sender: String, to recipients: [String], message: String, logger: Logger) async throws -> Reply {
        try WorkLease.beforeCall(taking: configuration.totalTimeout, "the SMTP exchange with \(configuration.host)")
        // The whole exchange counts from here: the connection's own bound (`timeout`, 30 s) came on top of
        // the total before, which then ended up to 30 s later than the lease allowed for.
        let started = ContinuousClock.now
        let connection = try await SMTPConnection.open(configuration, connectTimeout: min(configuration.timeout, configuration.totalTimeout))
        let left = configuration.totalTimeout - (ContinuousClock.now - started)
        guard left > .zero else {
            await connection.close()
            throw Failure(kind: .timeout, step: "exchange", reply: nil, detail: "the whole exchange took longer than \(configuration.totalTimeout)")
        }
        let expiry = connection.expire(after: left, total: configuration.totalTimeout)
        defer { expiry.cancel() }
        do {
            let reply = try await transaction(connection, from: sender, to: recipients, message: message)
            // A QUIT that goes wrong does not undo a queued message.
            _ = try? await connection.command("QUIT", step: "quit")
            await connection.close()
            return reply
        } catch {
            await connection.close()
            throw error
        }
    }

    private func transaction(_ connection: SMTPConnection, from sender: String, to recipients: [String], message: String) async throws -> Reply {
        try await connection.expect(220, try await connection.readReply(step: "greeting"), step: "greeting")
        var capabilities = try await hello(connection)
        var encrypted = false
        if configuration.tls != .off {
            if capabilities.contains("STARTTLS") {
                try await connection.expect(220, try await connection.command("STARTTLS", step: "starttls"), step: "starttls")
                try await connection.startTLS(configuration)
                capabilities = try await hello(connection)
                encrypted = true
            } else if configuration.tls == .required {
                throw Failure(kind: .tlsUnavailable, step: "starttls", reply: nil, detail: "the server does not offer STARTTLS and SMTP_TLS is required")
            }
        }
        if let username = configuration.username, let password = configuration.password {
            // Opportunistic TLS protects the message when it can; the password never goes out in clear
            // (a server that stopped offering STARTTLS, or someone stripping it on the way). On a
            // trusted relay without TLS, SMTP_TLS=off says so.
            guard encrypted || configuration.tls == .off else {
                throw Failure(
                    kind: .tlsUnavailable, step: "auth", reply: nil,
                    detail: "the server does not offer STARTTLS; SMTP_PASSWORD is not sent in clear (SMTP_TLS=off allows it)")
            }
            try await authenticate(connection, username: username, password: password, capabilities: capabilities)
        }
        try await connection.expect(250, try await connection.command("MAIL FROM:<\(sender)>", step: "mail from"), step: "mail from")
        for recipient in recipients {
            let reply = try await connection.command("RCPT TO:<\(recipient)>", step: "rcpt to")
            guard reply.code == 250 || reply.code == 251 else { throw Failure(kind: .rejected, step: "rcpt to", reply: reply, detail: nil) }
        }
        try await connection.expect(354, try await connection.command("DATA", step: "data"), step: "data")
        try await connection.write(Self.dotStuffed(message) + ".\r\n")
        let reply = try await connection.readReply(step: "end of data", timeout: max(configuration.timeout, configuration.endOfDataTimeout))
        try await connection.expect(250, reply, step: "end of data")
        return reply
    }

    /// EHLO; the capability keywords (upper-cased first words of the lines after the greeting line).
    private func hello(_ connection: SMTPConnection) async throws -> Set<String> {
        let reply = try await connection.command("EHLO \(configuration.clientName)", step: "ehlo")
        try await connection.expect(250, reply, step: "ehlo")
        var capabilities: Set<String> = []
        for line in reply.lines.dropFirst() {
            let words = line.split(separator: " ")
            guard let first = words.first else { continue }
            capabilities.insert(first.uppercased())
            if first.uppercased() == "AUTH" { for mechanism in words.dropFirst() { capabilities.insert("AUTH=" + mechanism.uppercased()) } }
        }
        return capabilities
    }

    private func authenticate(_ connection: SMTPConnection, username: String, password: String, capabilities: Set<String>) async throws {
        if capabilities.contains("AUTH=PLAIN") || !capabilities.contains("AUTH=LOGIN") {
            let token = Data(("\0" + username + "\0" + password).utf8).base64EncodedString()
            try await connection.expect(235, try await connection.command("AUTH PLAIN \(token)", step: "auth", secret: true), step: "auth")
        } else {
            try await connection.expect(334, try await connection.command("AUTH LOGIN", step: "auth"), step: "auth")
            try await connection.expect(334, try await connection.command(Data(username.utf8).base64EncodedString(), step: "auth", secret: true), step: "auth")
            try await connection.expect(235, try await connection.command(Data(password.utf8).base64EncodedString(), step: "auth", secret: true), step: "auth")
        }
    }

    /// RFC 5321 §4.5.2: a line starting with a dot gets another; the text ends with CRLF.
    static func dotStuffed(_ message: String) -> String {
        var text = message.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
        if !text.hasSuffix("\r\n") { text += "\r\n" }
        if text.hasPrefix(".") { text = "." + text }
        return text.replacingOccurrences(of: "\r\n.", with: "\r\n..")
    }
}

/// One SMTP connection: writes commands, reads replies in order.
final class SMTPConnection: Sendable {
    private let channel: any Channel
    private let replies: SMTPReplyHandler
    private let timeout: Duration

    private init(channel: any Channel, replies: SMTPReplyHandler, timeout: Duration) {
        self.channel = channel
        self.replies = replies
        self.timeout = timeout
    }

    static func open(_ configuration: SMTPClient.Configuration, connectTimeout: Duration) async throws -> SMTPConnection {
        let replies = SMTPReplyHandler()
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.nanoseconds(connectTimeout.nanosecondsTotal))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder(replies: replies)))
                    try channel.pipeline.syncOperations.addHandler(replies)
                }
            }
        do {
            let channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
            return SMTPConnection(channel: channel, replies: replies, timeout: configuration.timeout)
        } catch {
            throw SMTPClient.Failure(kind: .connection, step: "connect", reply: nil, detail: "\(configuration.host):\(configuration.port): \(error)")
        }
    }

    /// Fails whatever waits for a reply, and closes the connection, once `limit` has passed (the rest of
    /// the `total` the exchange may take).
    func expire(after limit: Duration, total: Duration) -> Scheduled<Void> {
        let replies = self.replies
        let channel = self.channel
        return channel.eventLoop.scheduleTask(in: .nanoseconds(limit.nanosecondsTotal)) {
            replies.expire(SMTPClient.Failure(kind: .timeout, step: "exchange", reply: nil, detail: "the whole exchange took longer than \(total)"))
            channel.close(promise: nil)
        }
    }

    func write(_ text: String) async throws {
        do {
            try await channel.writeAndFlush(ByteBuffer(string: text)).get()
        } catch {
            throw SMTPClient.Failure(kind: .connection, step: "write", reply: nil, detail: "\(error)")
        }
    }

    /// Sends `line` and reads the reply. `secret` lines are never part of an error.
    func command(_ line: String, step: String, secret: Bool = false) async throws -> SMTPClient.Reply {
        try await write(line + "\r\n")
        return try await readReply(step: step)
    }

    func readReply(step: String, timeout: Duration? = nil) async throws -> SMTPClient.Reply {
        let promise = channel.eventLoop.makePromise(of: SMTPClient.Reply.self)
        let timeout = timeout ?? self.timeout
        channel.eventLoop.execute { self.replies.next(promise) }
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanosecondsTotal)) {
            promise.fail(SMTPClient.Failure(kind: .timeout, step: step, reply: nil, detail: "no reply within \(timeout)"))
        }
        defer { timer.cancel() }
        do {
            return try await promise.futureResult.get()
        } catch let failure as SMTPClient.Failure {
            throw SMTPClient.Failure(kind: failure.kind, step: step, reply: failure.reply, detail: failure.detail)
        } catch {
            throw SMTPClient.Failure(kind: .connection, step: step, reply: nil, detail: "\(error)")
        }
    }

    func expect(_ code: Int, _ reply: SMTPClient.Reply, step: String) async throws {
        guard reply.code == code else { throw SMTPClient.Failure(kind: .rejected, step: step, reply: reply, detail: nil) }
    }

    /// Puts TLS under the line decoder (RFC 3207: after the server's 220 to STARTTLS).
    /// Anything the server sent after that 220, before TLS, ends the connection instead (RFC 3207 §4.2;
    /// CVE-2021-38371 and its kin): it came in clear, so someone on the way may have written it, and it
    /// would otherwise be read as the encrypted server's answers to the commands that follow.
    func startTLS(_ configuration: SMTPClient.Configuration) async throws {
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let file = configuration.trustRootsFile {
                tls.trustRoots = .file(file)
            }
            let context = try NIOSSLContext(configuration: tls)
            let serverHostname = configuration.host.first?.isNumber == true ? nil : configuration.host
            // The handler is not Sendable: made and added on the channel's event loop. Every read so far
            // has passed the decoder there, and every later one goes through TLS.
            let channel = self.channel
            let replies = self.replies
            try await channel.eventLoop.submit {
                guard !replies.hasUnreadInput else {
                    throw SMTPClient.Failure(
                        kind: .protocolError, step: "starttls", reply: nil,
                        detail: "the server sent more after its 220 to STARTTLS, in clear (someone on the way may have added it): connection dropped")
                }
                try channel.pipeline.syncOperations.addHandler(
                    NIOSSLClientHandler(context: context, serverHostname: serverHostname), position: .first)
            }.get()
        } catch let failure as SMTPClient.Failure {
            throw failure
        } catch {
            throw SMTPClient.Failure(kind: .connection, step: "starttls", reply: nil, detail: "TLS could not start: \(error)")
        }
    }

    func close() async {
        try? await channel.close().get()
    }
}

/// Splits the stream into lines (CRLF or LF), at most 4 KiB each; tells `replies` how many bytes of a
/// line still to end it holds (STARTTLS must find none).
struct SMTPLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String
    let replies: SMTPReplyHandler

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 4096 { throw SMTPClient.Failure(kind: .protocolError, step: "read", reply: nil, detail: "a reply line over 4 KiB") }
            replies.holdsPartialLine(buffer.readableBytes)
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        var line = buffer.readString(length: length) ?? ""
        buffer.moveReaderIndex(forwardBy: 1)
        replies.holdsPartialLine(buffer.readableBytes)
        if line.hasSuffix("\r") { line.removeLast() }
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}

/// Collects reply lines into replies (`250-…` continues, `250 …` ends) and hands them out in order.
final class SMTPReplyHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = String

    private struct State {
        var lines: [String] = []
        var ready: [Result<SMTPClient.Reply, any Error>] = []
        var waiting: [EventLoopPromise<SMTPClient.Reply>] = []
        var closed: (any Error)?
        /// Bytes the line decoder holds after its last line.
        var partial = 0
    }
    private let state = NIOLockedValueBox(State())

    /// Whether anything was received that no command has read yet: a reply, part of one, or bytes.
    var hasUnreadInput: Bool {
        state.withLockedValue { !$0.ready.isEmpty || !$0.lines.isEmpty || $0.partial > 0 }
    }

    func holdsPartialLine(_ count: Int) {
        state.withLockedValue { $0.partial = count }
    }

    func next(_ promise: EventLoopPromise<SMTPClient.Reply>) {
        let result: Result<SMTPClient.Reply, any Error>? = state.withLockedValue { state in
            if !state.ready.isEmpty { return state.ready.removeFirst() }
            if let closed = state.closed { return .failure(closed) }
            state.waiting.append(promise)
            return nil
        }
        if let result { promise.completeWith(result) }
    }

    private func deliver(_ result: Result<SMTPClient.Reply, any Error>) {
        let promise: EventLoopPromise<SMTPClient.Reply>? = state.withLockedValue { state in
            if !state.waiting.isEmpty { return state.waiting.removeFirst() }
            state.ready.append(result)
            return nil
        }
        promise?.completeWith(result)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        let utf8 = Array(line.utf8)
        guard utf8.count >= 3, let code = Int(String(decoding: utf8[0..<3], as: UTF8.self)) else {
            deliver(.failure(SMTPClient.Failure(kind: .protocolError, step: "read", reply: nil, detail: "not an SMTP reply line")))
            return
        }
        let text = utf8.count > 4 ? String(decoding: utf8[4...], as: UTF8.self) : ""
        let finished: [String]? = state.withLockedValue { state in
            state.lines.append(text)
            if utf8.count > 3 && utf8[3] == UInt8(ascii: "-") { return nil }
            defer { state.lines = [] }
            return state.lines
        }
        if let finished { deliver(.success(SMTPClient.Reply(code: code, lines: finished))) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(SMTPClient.Failure(kind: .connection, step: "read", reply: nil, detail: "the server closed the connection"))
        context.fireChannelInactive()
    }

    /// Ends the exchange with `error` (its time is up).
    func expire(_ error: any Error) { fail(error) }

    private func fail(_ error: any Error) {
        let waiting = state.withLockedValue { state in
            state.closed = state.closed ?? error
            defer { state.waiting = [] }
            return state.waiting
        }
        for promise in waiting { promise.fail(error) }
    }
}
