import EmbeddedDefault
import Foundation
import NIOCore
import NIOPosix
import Testing

/// `redress up` refuses to start while another stack holds its fixed ports (its services crash-looped
/// while the banner said "up", and the demo talked to the other stack's intake).
@Suite("Loopback ports")
struct LoopbackPortsTests {
    @Test("a port something listens on is taken; once closed it is free again")
    func takenThenFree() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(channel.localAddress?.port)
        #expect(LoopbackPorts.taken([port]) == [port])
        try await channel.close()
        #expect(LoopbackPorts.isFree(port))
    }
}
