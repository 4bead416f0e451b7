import ComplaintTesting
import Foundation
@testable import Notifier
import Testing

/// Settings that cannot work stop the start, naming the variable, instead of failing every message later.
@Suite("Notifier configuration", .timeLimit(.minutes(1)))
struct NotifierConfigurationTests {
    static func invalid(_ environment: [String: String]) async -> String? {
        do {
            _ = try await NotifierConfiguration.load(environment: environment)
            return nil
        } catch let invalid as NotifierConfiguration.Invalid {
            return invalid.description
        } catch {
            return "\(error)"
        }
    }

    /// `intake:8081` started, then every guest message's look-up failed (transiently) for about 1¾ h until given up.
    @Test("INTAKE_URL must be an http or https URL with a host", arguments: ["intake:8081", "intake", "ftp://intake:8081", "http://", "http:///v1"])
    func intakeURLWithoutSchemeOrHost(_ url: String) async throws {
        let error = await Self.invalid(["INTAKE_URL": url, "INTAKE_API_KEY": "key"])
        #expect(error?.contains("INTAKE_URL '\(url)'") == true, "\(error ?? "loaded")")
    }

    @Test("an http or https INTAKE_URL loads")
    func intakeURLLoads() async throws {
        for url in ["http://intake:8081", "https://intake.hotel.example/", "HTTP://127.0.0.1:8081"] {
            #expect(try await NotifierConfiguration.load(environment: ["INTAKE_URL": url, "INTAKE_API_KEY": "key"]).intakeURL == url)
        }
    }

    /// A wrong path failed at the first STARTTLS, every e-mail retried as a connection failure.
    @Test("SMTP_CA_FILE must be a readable file of PEM certificates")
    func trustRootsChecked() async throws {
        let missing = "/nonexistent/redress-ca.pem"
        let error = await Self.invalid(["SMTP_HOST": "relay", "SMTP_CA_FILE": missing])
        #expect(error?.contains("SMTP_CA_FILE '\(missing)' cannot be read") == true, "\(error ?? "loaded")")

        let notPEM = FileManager.default.temporaryDirectory.appendingPathComponent("redress-not-a-ca-\(UUID()).pem").path
        try "not a certificate\n".write(toFile: notPEM, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: notPEM) }
        let garbage = await Self.invalid(["SMTP_HOST": "relay", "SMTP_CA_FILE": notPEM])
        #expect(garbage?.contains("SMTP_CA_FILE '\(notPEM)' holds no PEM certificate") == true, "\(garbage ?? "loaded")")

        let sink = try await SMTPSink(tls: true)
        defer { sink.stop() }
        let certificate = try #require(sink.certificate)
        let loaded = try await NotifierConfiguration.load(environment: ["SMTP_HOST": "relay", "SMTP_CA_FILE": certificate])
        #expect(loaded.smtp?.trustRootsFile == certificate)
    }
}
