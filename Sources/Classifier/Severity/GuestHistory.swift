import ComplaintEvents
import Foundation

/// What the classifier knows of a guest's earlier complaints, for the repeat-complaint rules.
public struct GuestHistorySummary: Sendable, Hashable {
    /// Earlier complaints of the same guest with the same reservation at the same hotel.
    public var earlierInStay: Int
    /// Earlier complaints of the same guest at the same hotel in the last 30 days.
    public var earlierInWindow: Int

    public init(earlierInStay: Int = 0, earlierInWindow: Int = 0) {
        self.earlierInStay = earlierInStay
        self.earlierInWindow = earlierInWindow
    }

    public static let none = GuestHistorySummary()

    public var isRepeat: Bool { earlierInStay > 0 || earlierInWindow > 0 }
}

/// One complaint as remembered for the repeat rules (no personal data: the guest key is an HMAC).
public struct GuestVisit: Sendable, Hashable {
    public var guestKey: String
    public var hotelID: String
    public var reservationReference: String?
    public var complaintID: UUID
    public var registeredAt: Date

    public init(guestKey: String, hotelID: String, reservationReference: String?, complaintID: UUID, registeredAt: Date) {
        self.guestKey = guestKey
        self.hotelID = hotelID
        self.reservationReference = reservationReference
        self.complaintID = complaintID
        self.registeredAt = registeredAt
    }

    /// The visit of `complaint`'s guest at its hotel, or `nil` for a complaint without a guest key.
    public init?(of complaint: ComplaintReceived) {
        guard let guestKey = complaint.guest.guestKey else { return nil }
        self.init(
            guestKey: guestKey, hotelID: complaint.hotelID, reservationReference: complaint.guest.reservationReference,
            complaintID: complaint.complaintID, registeredAt: complaint.registeredAt)
    }

    /// What the classifier's guest lock is taken on (``ClassificationStore/lockGuest(of:on:logger:)``):
    /// the guest at the hotel, the scope of the repeat rules.
    public var lockSubject: String { "\(hotelID)|\(guestKey)" }

    /// How far back a complaint still makes the next one a repeat.
    public static let repeatWindow: TimeInterval = 30 * 24 * 3600

    /// Counts `earlier` visits against this one (the rule both stores implement).
    public func summary(of earlier: some Sequence<GuestVisit>) -> GuestHistorySummary {
        var summary = GuestHistorySummary()
        for visit in earlier
        where visit.guestKey == guestKey && visit.hotelID == hotelID && visit.complaintID != complaintID && visit.registeredAt <= registeredAt {
            if let reservation = reservationReference, visit.reservationReference == reservation { summary.earlierInStay += 1 }
            if visit.registeredAt >= registeredAt.addingTimeInterval(-Self.repeatWindow) { summary.earlierInWindow += 1 }
        }
        return summary
    }
}
