import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
import Logging
import NIOCore
import NIOPosix
@testable import Notifier
import Synchronization
import Testing

/// E-mail against a real SMTP server (aiosmtpd) on loopback: STARTTLS, AUTH, both MIME parts, the
/// Message-ID, and what the server's refusals become.
@Suite("E-mail over SMTP", .timeLimit(.minutes(2)))
struct SMTPTests {
    static func channel(
        _ sink: SMTPSink, tls: SMTPClient.TLSMode = .opportunistic, user: String? = nil, password: String? = nil, sender: String = "notify@pd.example"
    ) -> EmailChannel {
        channel(port: sink.port, certificate: sink.certificate, tls: tls, user: user, password: password, sender: sender)
    }

    static func channel(
        port: Int, certificate: String? = nil, tls: SMTPClient.TLSMode = .opportunistic, user: String? = nil, password: String? = nil,
        sender: String = "notify@pd.example"
    ) -> EmailChannel {
        var configuration = SMTPClient.Configuration(host: "localhost", port: port, tls: tls, trustRootsFile: certificate)
        configuration.username = user
        configuration.password = password
        configuration.timeout = .seconds(10)
        return EmailChannel(client: SMTPClient(configuration: configuration), sender: MailAddress(sender, name: "Redress 浦东"), messageIDDomain: "pd.example")
    }

    @Test("STARTTLS, AUTH and a multipart message whose Message-ID is the notification's")
    func multipartOverTLS() async throws {
        let sink = try await SMTPSink(tls: true, user: "redress", password: "s3cret")
        defer { sink.stop() }
        let templates = try NotifierFixtures.templates()
        let rules = try RulesFile.load(contentsOf: NotifierFixtures.rulesFile, environment: [:])
        let intent = NotifierFixtures.intent(
            template: "complaint_received_guest", language: "zh-CN", channel: .email,
            recipient: NotificationRecipient(kind: .guest, role: .guest), endpoint: nil, trigger: "received")
        let values = MessageValues.make(intent: intent, rules: rules, templates: templates, guest: GuestContact(name: "李伟"), link: nil)
        let rendered = try #require(templates.render(intent.template, language: "zh-CN", values: values))
        let message = OutgoingMessage(intent: intent, channel: .email, rendered: rendered, destination: .email("li.wei@example.com"), link: nil)

        let receipt = try await Self.channel(sink, tls: .required, user: "redress", password: "s3cret").send(message, logger: .complaintTest)
        #expect(receipt.hasPrefix("email 250 2.0.0 Ok: queued as SINK"))
        let mail = try #require(await sink.waitFor(1).first)
        #expect(mail.tls)
        #expect(mail.authenticated)
        #expect(mail.envelopeTo == ["li.wei@example.com"])
        #expect(mail.header("Message-ID") == "<\(intent.notificationID.uuidString.lowercased())@pd.example>")
        #expect(mail.header("X-Redress-Idempotency-Key") == intent.idempotencyKey)
        #expect(mail.header("Content-Language") == "zh-CN")
        #expect(mail.header("Content-Type")?.hasPrefix("multipart/alternative; boundary=") == true)
        #expect(mail.decodedHeader("Subject") == rendered.subject)
        #expect(mail.decodedHeader("From") == "Redress 浦东<notify@pd.example>" || mail.decodedHeader("From") == "Redress 浦东 <notify@pd.example>")
        let text = try #require(mail.part("text/plain"))
        #expect(text.hasPrefix("尊敬的李伟："))
        #expect(text.contains("瑞德斯上海浦东酒店"))
        let html = try #require(mail.part("text/html"))
        #expect(html.contains("<p>尊敬的李伟：</p>"))
    }

    @Test("plain SMTP when the server offers no STARTTLS, unless TLS is required")
    func tlsPolicy() async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let message = NotifierFixtures.message(NotifierFixtures.intent(channel: .email, endpoint: nil), to: .email("ops@pd.example"))
        _ = try await Self.channel(sink).send(message, logger: .complaintTest)
        #expect(await sink.waitFor(1).first?.tls == false)
        let refused = await ChannelTests.failure { _ = try await Self.channel(sink, tls: .required).send(message, logger: .complaintTest) }
        #expect(refused?.isPermanent == false, "a setting to fix (the relay's or SMTP_TLS), not this message's fault: retried")
        #expect(refused?.reason.hasPrefix("[smtp_tlsunavailable]") == true)
        #expect(sink.messages.count == 1)
    }

    /// Opportunistic TLS falls back to plain for the message, never for the password: a server that
    /// stops offering STARTTLS (or a network that strips it) would otherwise get the credentials in clear.
    @Test("credentials only over TLS, unless SMTP_TLS is off")
    func credentialsNeedTLS() async throws {
        let sink = try await SMTPSink(user: "redress", password: "s3cret")
        defer { sink.stop() }
        let message = NotifierFixtures.message(NotifierFixtures.intent(channel: .email, endpoint: nil), to: .email("ops@pd.example"))
        let refused = await ChannelTests.failure {
            _ = try await Self.channel(sink, user: "redress", password: "s3cret").send(message, logger: .complaintTest)
        }
        #expect(refused?.reason.hasPrefix("[smtp_tlsunavailable]") == true, "\(refused?.reason ?? "sent")")
        #expect(refused?.isPermanent == false)
        #expect(refused?.reason.contains("s3cret") == false)
        #expect(sink.messages.isEmpty)
        _ = try await Self.channel(sink, tls: .off, user: "redress", password: "s3cret").send(message, logger: .complaintTest)
        let mail = try #require(await sink.waitFor(1).first)
        #expect(mail.authenticated && !mail.tls)
    }

    @Test("a relay slow to accept the message is waited for, longer than for other replies: no timeout, so no second copy")
    func slowEndOfData() async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        var configuration = SMTPClient.Configuration(host: "localhost", port: sink.port, tls: .off)
        configuration.timeout = .seconds(1)
        configuration.endOfDataTimeout = .seconds(20)
        let channel = EmailChannel(client: SMTPClient(configuration: configuration), sender: MailAddress("notify@pd.example"), messageIDDomain: "pd.example")
        let intent = NotifierFixtures.intent(channel: .email, endpoint: nil)
        // The sink answers a message to `slow@` three seconds after its end.
        let receipt = try await channel.send(NotifierFixtures.message(intent, to: .email("slow@pd.example")), logger: .complaintTest)
        #expect(receipt.contains("SINK0001"), "\(receipt)")
        #expect(sink.messages.count == 1)

        // The whole exchange is bounded too (inside the delivery worker's lease): a slow answer past it fails.
        configuration.totalTimeout = .seconds(2)
        let bounded = EmailChannel(client: SMTPClient(configuration: configuration), sender: MailAddress("notify@pd.example"), messageIDDomain: "pd.example")
        let failure = await ChannelTests.failure { _ = try await bounded.send(NotifierFixtures.message(intent, to: .email("slow@pd.example")), logger: .complaintTest) }
        #expect(failure?.isPermanent == false)
        #expect(failure?.reason.hasPrefix("[smtp_timeout]") == true, "\(failure?.reason ?? "")")
    }

    @Test("a 550 recipient is given up, a 451 retried, a dead server retried")
    func refusals() async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let channel = Self.channel(sink)
        let intent = NotifierFixtures.intent(channel: .email, endpoint: nil)
        let rejected = await ChannelTests.failure { _ = try await channel.send(NotifierFixtures.message(intent, to: .email("reject@pd.example")), logger: .complaintTest) }
        #expect(rejected?.isPermanent == true)
        #expect(rejected?.reason.hasPrefix("[smtp_550]") == true)
        #expect(rejected?.reason.contains("<recipient>") == true, "\(rejected?.reason ?? "")")
        #expect(rejected?.reason.contains("reject@pd.example") == false, "the address never reaches a receipt or a log")
        let deferred = await ChannelTests.failure { _ = try await channel.send(NotifierFixtures.message(intent, to: .email("tempfail@pd.example")), logger: .complaintTest) }
        #expect(deferred?.isPermanent == false)
        #expect(deferred?.reason.hasPrefix("[smtp_451]") == true)
        #expect(sink.messages.isEmpty)
        sink.stop()
        let down = await ChannelTests.failure { _ = try await channel.send(NotifierFixtures.message(intent, to: .email("ops@pd.example")), logger: .complaintTest) }
        #expect(down?.isPermanent == false)
        #expect(down?.reason.hasPrefix("[smtp_connection]") == true)
    }

    /// A refusal before the recipient is about the settings (a password rotated on the relay, a sender it
    /// no longer lets this account use): every e-mail was given up on its first attempt until they were
    /// fixed, and none came back. Retried now, like a relay that is down; a refused recipient still is not.
    @Test("a refused login or sender is retried, naming the step, the reply and the setting; a refused recipient given up")
    func refusedSettings() async throws {
        let sink = try await SMTPSink(tls: true, user: "redress", password: "s3cret")
        defer { sink.stop() }
        let message = NotifierFixtures.message(NotifierFixtures.intent(channel: .email, endpoint: nil), to: .email("ops@pd.example"))
        let login = await ChannelTests.failure {
            _ = try await Self.channel(sink, tls: .required, user: "redress", password: "rotated").send(message, logger: .complaintTest)
        }
        #expect(login?.isPermanent == false, "\(login?.reason ?? "sent")")
        #expect(login?.reason.hasPrefix("[smtp_535] SMTP auth: server answered 535") == true, "\(login?.reason ?? "sent")")
        #expect(login?.reason.contains("SMTP_PASSWORD") == true)
        #expect(login?.reason.contains("rotated") == false)
        let sender = await ChannelTests.failure {
            _ = try await Self.channel(sink, tls: .required, user: "redress", password: "s3cret", sender: "refused@pd.example").send(message, logger: .complaintTest)
        }
        #expect(sender?.isPermanent == false, "\(sender?.reason ?? "sent")")
        #expect(sender?.reason.hasPrefix("[smtp_553] SMTP mail from: server answered 553 5.7.1") == true, "\(sender?.reason ?? "sent")")
        #expect(sender?.reason.contains("SMTP_FROM") == true)
        let recipient = await ChannelTests.failure {
            _ = try await Self.channel(sink, tls: .required, user: "redress", password: "s3cret")
                .send(NotifierFixtures.message(NotifierFixtures.intent(channel: .email, endpoint: nil), to: .email("reject@pd.example")), logger: .complaintTest)
        }
        #expect(recipient?.isPermanent == true)
        #expect(recipient?.reason.hasPrefix("[smtp_550] SMTP rcpt to:") == true, "\(recipient?.reason ?? "sent")")
        #expect(sink.messages.isEmpty)
        // Once the setting is right, the same message goes.
        _ = try await Self.channel(sink, tls: .required, user: "redress", password: "s3cret").send(message, logger: .complaintTest)
        #expect(await sink.waitFor(1).count == 1)
    }

    /// RFC 3207 §4.2, CVE-2021-38371: replies that come in clear after the server's 220 to STARTTLS may
    /// be someone's on the way; read after the handshake they would pass for the encrypted server's.
    @Test("replies injected after STARTTLS's 220 end the connection: no TLS, no command after it")
    func injectionAfterSTARTTLS() async throws {
        let server = try await InjectingSMTPServer.start()
        let message = NotifierFixtures.message(NotifierFixtures.intent(channel: .email, endpoint: nil), to: .email("ops@pd.example"))
        let failure = await ChannelTests.failure { _ = try await Self.channel(port: server.port, tls: .required).send(message, logger: .complaintTest) }
        let afterSTARTTLS = await server.closed()
        await server.stop()
        #expect(failure?.isPermanent == false)
        #expect(failure?.reason.hasPrefix("[smtp_protocolerror] SMTP starttls: the server sent more after its 220") == true, "\(failure?.reason ?? "sent")")
        #expect(afterSTARTTLS.isEmpty, "the client went on after STARTTLS: \(afterSTARTTLS.count) bytes (a TLS handshake, commands)")
    }

    @Test("dot-stuffing and header encoding")
    func encoding() {
        #expect(SMTPClient.dotStuffed(".start\n.\nend") == "..start\r\n..\r\nend\r\n")
        #expect(MailMessage.encodedWord("plain subject") == "plain subject")
        let encoded = MailMessage.encodedWord("我们已收到您的反馈，编号 ABCD1234，感谢您的耐心与理解")
        #expect(encoded.hasPrefix("=?UTF-8?B?"))
        #expect(encoded.components(separatedBy: "\r\n ").allSatisfy { $0.count <= 75 })
        #expect(MailAddress(parsing: "Redress <a@b.example>") == MailAddress("a@b.example", name: "Redress"))
        #expect(MailAddress(parsing: "a@b.example\r\nRCPT TO:<x@y>") == nil)
        #expect(!MailAddress.isAddress("a b@c"))
    }
}

/// An SMTP server on loopback that answers STARTTLS with its 220 and, in the same write, a second reply,
/// as a man in the middle appending to the stream would; it records what the client sends after that.
final class InjectingSMTPServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let record: Record

    /// What the client sent after STARTTLS, and its connection's end.
    final class Record: Sendable {
        let afterSTARTTLS = Mutex<[UInt8]>([])
        let ended: EventLoopPromise<Void>

        init(ended: EventLoopPromise<Void>) { self.ended = ended }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let record: Record
        var pending = ""
        var startedTLS = false

        init(record: Record) { self.record = record }

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "220 mitm.example ESMTP\r\n")), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            if startedTLS {
                // A TLS hello or a command: the client went on. Ending here ends its wait too.
                record.afterSTARTTLS.withLock { $0 += buffer.readBytes(length: buffer.readableBytes) ?? [] }
                context.close(promise: nil)
                return
            }
            pending += buffer.readString(length: buffer.readableBytes) ?? ""
            while let end = pending.range(of: "\r\n") {
                let line = pending[..<end.lowerBound].uppercased()
                pending = String(pending[end.upperBound...])
                if startedTLS {
                    record.afterSTARTTLS.withLock { $0 += Array((line + "\r\n").utf8) }
                } else if line.hasPrefix("EHLO") {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "250-mitm.example\r\n250 STARTTLS\r\n")), promise: nil)
                } else if line == "STARTTLS" {
                    startedTLS = true
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "220 go ahead\r\n250 injected\r\n")), promise: nil)
                } else {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "500 unexpected\r\n")), promise: nil)
                }
            }
            if startedTLS && !pending.isEmpty {
                record.afterSTARTTLS.withLock { $0 += Array(pending.utf8) }
                pending = ""
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            record.ended.succeed()
            context.fireChannelInactive()
        }
    }

    private init(port: Int, channel: any Channel, record: Record) {
        self.port = port
        self.channel = channel
        self.record = record
    }

    static func start() async throws -> InjectingSMTPServer {
        let record = Record(ended: MultiThreadedEventLoopGroup.singleton.any().makePromise())
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(record: record)) }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            return InjectingSMTPServer(port: channel.localAddress?.port ?? 0, channel: channel, record: record)
        } catch {
            record.ended.succeed()
            throw error
        }
    }

    /// Waits until the client's connection ended; what it sent after STARTTLS.
    func closed() async -> [UInt8] {
        try? await record.ended.futureResult.get()
        return record.afterSTARTTLS.withLock { $0 }
    }

    func stop() async {
        try? await channel.close().get()
        record.ended.succeed()
    }
}
