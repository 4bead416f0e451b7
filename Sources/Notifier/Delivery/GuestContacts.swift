import AsyncHTTPClient
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// A guest's contact details at send time. Intake alone stores them; the notifier asks for them just
/// before sending and keeps them nowhere (not in its tables, its queue or its logs).
public struct GuestContact: Sendable, Hashable {
    public var name: String?
    public var email: String?
    public var phone: String?
    /// The guest asked not to be contacted (`preferredContact: none`), perhaps since the message was planned.
    public var optedOut: Bool
    /// Where the complaint stands in intake now (`resolved`, `reopened`, …), when intake said.
    public var status: String?
    /// When each of the complaint's resolutions was recorded, oldest first (intake's timeline): a survey
    /// link names the one it asks about.
    public var resolutions: [Date]
    /// When the guest reported the complaint (intake's `reportedAt`), when intake said: a "received"
    /// message is as old as that (``DeliveryPerformer/staleness(of:reportedAt:maximumAge:now:)``).
    public var reportedAt: Date?

    public init(
        name: String? = nil, email: String? = nil, phone: String? = nil, optedOut: Bool = false, status: String? = nil, resolutions: [Date] = [],
        reportedAt: Date? = nil
    ) {
        self.name = name
        self.email = email
        self.phone = phone
        self.optedOut = optedOut
        self.status = status
        self.resolutions = resolutions
        self.reportedAt = reportedAt
    }

    /// The longest first name a message shows; a longer word gets the generic greeting.
    static let maximumFirstNameLength = 40

    /// The first word of the name (a guest message never names more), when it looks like a name: letters,
    /// combining marks, apostrophes and hyphens, at most ``maximumFirstNameLength`` characters; else `nil`,
    /// and the message greets the guest generically. Intake takes any 200 characters as a name, and a first
    /// "word" such as `Visit-evil.example\n\nRefund:` went into the text and SMS bodies as it was.
    public var firstName: String? {
        guard let first = name?.split(whereSeparator: { $0.isWhitespace }).first, first.count <= Self.maximumFirstNameLength else { return nil }
        let allowed = first.unicodeScalars.allSatisfy { scalar in
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
                 .nonspacingMark, .spacingMark, .enclosingMark:
                true
            default:
                "'’-".unicodeScalars.contains(scalar)
            }
        }
        return allowed ? String(first) : nil
    }
}

/// Where guest contact details come from.
public protocol GuestContactSource: Sendable {
    /// The guest of `complaintID`. The notifier plans guest messages from intake's own events, so the
    /// complaint exists: a source that cannot show it throws a transient ``DeliveryFailure``.
    func contact(for complaintID: UUID, logger: Logger) async throws -> GuestContact
}

/// Guest contacts from intake's API (`GET /v1/complaints/{id}`) with the notifier's staff key
/// (`INTAKE_URL`, `INTAKE_API_KEY`; create one with `redress apikey create --role staff`).
public struct IntakeGuestContacts: GuestContactSource {
    public var baseURL: String
    public var apiKey: String
    public var timeout: Duration
    /// The channels' client (``AsyncHTTPClient/HTTPClient/outboundFailingFast``): a redirect is never followed and a refused connection
    /// fails at once. `HTTPClient.shared` followed up to 20 redirects, reading whatever page one landed on as
    /// the guest's contact (and sending the key along to a redirect within intake's origin), and tried a
    /// refused connection again until the timeout.
    var client: HTTPClient = .outboundFailingFast

    public init(baseURL: String, apiKey: String, timeout: Duration = .seconds(10)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.timeout = timeout
    }

    struct Complaint: Decodable {
        struct Guest: Decodable {
            var name: String?
            var email: String?
            var phone: String?
            var preferredContact: String?
        }
        struct Entry: Decodable {
            var at: String?
            var kind: String?
        }
        var guest: Guest?
        var status: String?
        var reportedAt: String?
        var timeline: [Entry]?

        /// The `resolved` entries' times, in the timeline's order.
        var resolutions: [Date] {
            (timeline ?? []).compactMap { $0.kind == ComplaintUpdated.Kind.resolved.rawValue ? $0.at.flatMap(EventTimestamp.date(from:)) : nil }
        }
    }

    public func contact(for complaintID: UUID, logger: Logger) async throws -> GuestContact {
        var request = HTTPClientRequest(url: "\(baseURL)/v1/complaints/\(complaintID.uuidString.lowercased())")
        request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        request.headers.add(name: "Accept", value: "application/json")
        let url = request.url
        let response: BoundedAnswer
        do {
            response = try await client.boundedExchange(request, timeout: timeout, maximumBodySize: 4 * 1024 * 1024, logger: logger)
        } catch {
            throw DeliveryFailure.transient("intake_unreachable", "could not ask intake for the guest's contact details (\(type(of: error)))")
        }
        switch response.status {
        case 200:
            guard !response.isTruncated, let complaint = try? JSONDecoder().decode(Complaint.self, from: Data(response.body.readableBytesView)) else {
                throw DeliveryFailure.transient("intake_unreadable", "intake's answer is not a complaint")
            }
            return GuestContact(
                name: complaint.guest?.name, email: complaint.guest?.email, phone: complaint.guest?.phone,
                optedOut: complaint.guest?.preferredContact == ContactChannel.none.rawValue, status: complaint.status,
                resolutions: complaint.resolutions, reportedAt: complaint.reportedAt.flatMap(EventTimestamp.date(from:)))
        case 404:
            // Intake answers 404 for a hotel the key does not cover, as for a complaint it does not hold.
            throw DeliveryFailure.transient(
                "intake_not_visible", "intake shows no such complaint to INTAKE_API_KEY (404); the key needs the staff role for the hotel")
        case 401, 403:
            throw DeliveryFailure.transient("intake_unauthorized", "intake refused INTAKE_API_KEY (\(response.status)); it needs the staff role for the hotel")
        case 300..<400:
            // Not followed (see `client`): INTAKE_URL is wrong (http for https, an old host), a deployment
            // mistake that fixing the setting mends, so the message is retried meanwhile.
            let target = HTTPDelivery.redirectTarget(response.headers.first(name: "Location"), from: url)
            throw DeliveryFailure.transient(
                "intake_\(response.status)",
                target.map { "intake redirected to \($0): set INTAKE_URL to where it points (redirects are not followed, the key is not sent there)" }
                    ?? "intake answered \(response.status) without a Location (redirects are not followed)")
        default:
            throw DeliveryFailure.transient("intake_\(response.status)", "intake answered \(response.status)")
        }
    }
}
