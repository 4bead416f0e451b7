import ComplaintTesting
import ComplaintPipeline
import Access
import Foundation
import Intake
import Logging
import NIOHTTP1
import Testing

@Suite("Tenancy: a key sees and touches only its own hotels", .timeLimit(.minutes(3)))
struct TenancyTests {
    enum Endpoint: String, CaseIterable {
        case create, read, list, note, acknowledge, compensate
    }

    /// The status each role gets on each endpoint for its own hotel's complaint and another's.
    static func expected(_ role: AccessRole, _ endpoint: Endpoint, ownHotel: Bool) -> Int {
        switch (role, endpoint) {
        case (.publisher, .create): return ownHotel ? 201 : 403
        case (.publisher, _): return 403
        case (.admin, .create): return 201
        case (.admin, .compensate): return 201
        case (.admin, _): return 200
        case (_, .create): return ownHotel ? 201 : 403
        case (_, .list): return 200
        case (_, .compensate): return ownHotel ? 201 : 404
        default: return ownHotel ? 200 : 404
        }
    }

    @Test("each role × each endpoint × own/other hotel")
    func matrix() async throws {
        try await IntakeHarness.run(access: { $0.ratePerSecond = 1000 }) { harness in
            var keys: [AccessRole: String] = [:]
            for role in AccessRole.allCases {
                keys[role] = role == .admin ? harness.admin : try await harness.key(role, hotels: [IntakeHarness.hotelA])
            }
            for role in AccessRole.allCases {
                let key = try #require(keys[role])
                for ownHotel in [true, false] {
                    let hotel = ownHotel ? IntakeHarness.hotelA : IntakeHarness.hotelB
                    // A fresh complaint per cell, registered by the admin.
                    let (_, id) = try await harness.submit(IntakeHarness.submission(hotel: hotel))
                    for endpoint in Endpoint.allCases {
                        let reply: IntakeHarness.Reply
                        switch endpoint {
                        case .create:
                            reply = try await harness.request(.POST, "/v1/complaints", key: key, body: IntakeHarness.submission(hotel: hotel))
                        case .read:
                            reply = try await harness.request(.GET, "/v1/complaints/\(id)", key: key)
                        case .list:
                            reply = try await harness.request(.GET, "/v1/complaints?hotelId=\(hotel)&limit=200", key: key)
                            if reply.status == 200 {
                                let ids = (reply.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                                #expect(ids.contains(id) == (ownHotel || role == .admin), "\(role) list \(hotel)")
                            }
                        case .note:
                            reply = try await harness.request(.POST, "/v1/complaints/\(id)/notes", key: key, body: #"{"text":"checked","visibility":"internal"}"#)
                        case .acknowledge:
                            reply = try await harness.request(.POST, "/v1/complaints/\(id)/acknowledge", key: key)
                        case .compensate:
                            reply = try await harness.request(.POST, "/v1/complaints/\(id)/compensations", key: key,
                                                              body: #"{"kind":"voucher","amountMinor":100,"currency":"CNY","reason":"sorry"}"#)
                        }
                        #expect(reply.status == Self.expected(role, endpoint, ownHotel: ownHotel),
                                "\(role.rawValue) \(endpoint.rawValue) \(ownHotel ? "own" : "other") hotel: \(reply.body)")
                        if reply.status == 404 {
                            #expect(!reply.body.contains(hotel), "a 404 never names the other hotel")
                        }
                    }
                }
            }
            // An unfiltered list by a hotel-A key never shows hotel B.
            let staff = try #require(keys[.staff])
            let all = try await harness.request(.GET, "/v1/complaints?limit=200", key: staff)
            let hotels = Set((all.json["items"] as? [[String: Any]] ?? []).compactMap { $0["hotelId"] as? String })
            #expect(hotels == [IntakeHarness.hotelA])
            // A revoked key stops working.
            let revocable = try await harness.key(.staff)
            let keyID = String(revocable.dropFirst(4).prefix { $0 != "_" })
            #expect(try await harness.keys.revoke(id: keyID, client: harness.client, logger: .init(label: "test")))
            #expect(try await harness.request(.GET, "/v1/complaints", key: revocable).status == 401)
        }
    }
}
