import Foundation

@testable import ComplaintEvents

/// Random valid events of every type, reproducible from a seed. Strings mix scripts, emoji,
/// combining marks, quotes, backslashes and control characters, and a fifth of them sit exactly
/// at their maximum length (in Unicode scalars, as JSON Schema counts), so the schemas' bounds
/// are exercised from both sides.
struct EventGenerator {
    var rng: SeededGenerator

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    // MARK: Primitives

    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < probability }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func pick<T>(_ values: [T]) -> T { values[int(0...(values.count - 1))] }
    mutating func maybe<T>(_ make: (inout EventGenerator) -> T) -> T? { chance(0.5) ? make(&self) : nil }

    /// A length in `range`, the maximum a fifth of the time.
    mutating func length(_ range: ClosedRange<Int>) -> Int { chance(0.2) ? range.upperBound : int(range) }

    /// An integer in `range`, a bound a quarter of the time.
    mutating func bounded(_ range: ClosedRange<Int64>) -> Int64 {
        chance(0.25) ? pick([range.lowerBound, range.upperBound]) : Int64.random(in: range, using: &rng)
    }

    mutating func number(_ range: ClosedRange<Double>) -> Double {
        chance(0.25) ? pick([range.lowerBound, range.upperBound, 0.1, 1e-7].filter(range.contains))
            : Double.random(in: range, using: &rng)
    }

    private static let textPieces: [[Unicode.Scalar]] = [
        "a", "Z", "7", " ", "空调", "不制冷", "房间", "。", "，", "😀", "👍🏽", "🇨🇳", "e\u{301}", "\"", "\\", "/", "\n", "\t",
        "\u{1}", "\u{7F}", "\u{2028}", "ß", "Ω", "—", "€", "'", "<b>", "&", "%",
    ].map { Array($0.unicodeScalars) }

    /// Free text of 1…`maxLength` scalars.
    mutating func text(_ maxLength: Int) -> String {
        let target = length(1...maxLength)
        var scalars = String.UnicodeScalarView()
        var count = 0
        while count < target {
            let piece = pick(Self.textPieces).prefix(target - count)
            scalars.append(contentsOf: piece)
            count += piece.count
        }
        return String(scalars)
    }

    private mutating func run(_ first: [Character], _ rest: [Character], _ lengthRange: ClosedRange<Int>) -> String {
        let count = length(lengthRange)
        var result = String(pick(first))
        for _ in 1..<count { result.append(pick(rest)) }
        return result
    }

    static let lower = Array("abcdefghijklmnopqrstuvwxyz")
    static let upper = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    static let digits = Array("0123456789")
    static let hex = Array("0123456789abcdef")
    static let visible = (0x21...0x7E).map { Character(UnicodeScalar(UInt8($0))) }

    mutating func identifier() -> String { run(Self.lower + Self.upper + Self.digits, Self.lower + Self.upper + Self.digits + Array("._-"), 1...64) }
    mutating func code() -> String { run(Self.lower, Self.lower + Self.digits + Array("_"), 1...64) }
    mutating func serviceName() -> String { run(Self.lower, Self.lower + Self.digits + Array("-"), 1...64) }
    mutating func reference(_ maxLength: Int) -> String { run(Self.visible, Self.visible, 1...maxLength) }
    mutating func hexString(_ count: Int) -> String { String((0..<count).map { _ in pick(Self.hex) }) }

    mutating func language() -> String {
        if chance(0.7) { return pick(["zh-CN", "en", "en-GB", "zh-Hans-CN", "zh-TW", "ja", "fr-FR"]) }
        var tag = run(Self.lower + Self.upper, Self.lower + Self.upper, 2...3)
        for _ in 0..<int(0...3) { tag += "-" + run(Self.lower + Self.digits, Self.lower + Self.upper + Self.digits, 2...8) }
        return tag
    }

    mutating func traceParent() -> String { "00-\(hexString(32))-\(hexString(16))-\(pick(["00", "01"]))" }

    mutating func phone() -> String { "+" + String(pick(Array("123456789"))) + String((0..<int(6...14)).map { _ in pick(Self.digits) }) }

    mutating func email() -> String {
        let atom = Self.lower + Self.upper + Self.digits + Array("!#$%&'*+/=?^_`{|}~-")
        let label = Self.lower + Self.digits
        let local = chance(0.3) ? run(atom, atom, 1...20) + "." + run(atom, atom, 1...20) : run(atom, atom, 1...40)
        return local + "@" + run(label, label, 1...30) + "." + run(label, label + Array("-"), 1...10) + run(label, label, 1...2)
    }

    mutating func source() -> String {
        chance(0.6) ? "/redress/" + serviceName()
            : run(Self.lower + Self.upper + Self.digits + Array("/"), Self.lower + Self.upper + Self.digits + Array("._~:/?#[]@!$&'()*+,;=%-"), 1...256)
    }

    /// A date at millisecond precision between 2000 and 2100, as the wire format keeps it.
    mutating func date() -> Date {
        Date(timeIntervalSince1970: Double(Int64.random(in: 946_684_800_000...4_102_444_800_000, using: &rng)) / 1000)
    }

    mutating func uuid() -> UUID {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    mutating func pick<E: EventEnum>(_ type: E.Type) -> E { pick(Array(E.allCases)) }

    mutating func bytes(_ maxCount: Int) -> [UInt8] { (0..<int(0...maxCount)).map { _ in UInt8.random(in: 0...255, using: &rng) } }

    // MARK: Envelopes

    mutating func envelope<P: EventPayload>(_ data: P) -> EventEnvelope<P> {
        let traceParent = maybe { $0.traceParent() }
        return EventEnvelope(
            id: uuid(), source: source(), time: date(), hotelID: data.envelopeHotelID ?? identifier(),
            traceParent: traceParent, traceState: traceParent == nil ? nil : maybe { $0.text(512) }, data: data)
    }

    // MARK: Payloads

    mutating func reporter() -> Reporter {
        Reporter(kind: pick(ReporterKind.self), id: maybe { $0.identifier() }, name: maybe { $0.text(200) })
    }

    mutating func submitted() -> ComplaintSubmitted {
        ComplaintSubmitted(
            hotelID: identifier(), source: code(), externalID: reference(128), channel: pick(ComplaintChannel.self),
            occurredAt: maybe { $0.date() }, reportedAt: date(), text: text(4000), language: maybe { $0.language() },
            guest: GuestDetails(
                name: maybe { $0.text(200) }, roomNumber: maybe { $0.text(16) }, reservationReference: maybe { $0.reference(64) },
                phone: maybe { $0.phone() }, email: maybe { $0.email() }, loyaltyID: maybe { $0.reference(64) },
                loyaltyTier: maybe { $0.text(32) }, isVIP: maybe { $0.chance(0.5) }, preferredLanguage: maybe { $0.language() },
                preferredContact: maybe { $0.pick(ContactChannel.self) }),
            reporter: reporter())
    }

    mutating func received() -> ComplaintReceived {
        ComplaintReceived(
            complaintID: uuid(), hotelID: identifier(), source: code(), externalID: reference(128),
            channel: pick(ComplaintChannel.self), occurredAt: maybe { $0.date() }, reportedAt: date(), registeredAt: date(),
            text: text(4000), language: maybe { $0.language() },
            guest: GuestSummary(
                guestKey: maybe { $0.hexString(64) }, name: maybe { $0.text(200) }, roomNumber: maybe { $0.text(16) },
                reservationReference: maybe { $0.reference(64) }, loyaltyTier: maybe { $0.text(32) }, isVIP: chance(0.2),
                preferredLanguage: maybe { $0.language() }, preferredContact: maybe { $0.pick(ContactChannel.self) }),
            reporter: reporter())
    }

    mutating func classified() -> ComplaintClassified {
        ComplaintClassified(
            complaintID: uuid(), classifiedAt: date(), category: pick(ComplaintCategory.self), severity: pick(Severity.self),
            priority: Int(bounded(1...4)), language: language(), sentiment: number(-1...1),
            flags: ClassificationFlags(
                isVIP: chance(0.5), isRepeat: chance(0.5), involvesSafety: chance(0.5), threatensReview: chance(0.5),
                needsHumanReview: chance(0.5)),
            confidence: number(0...1),
            explanation: ClassificationExplanation(
                classifier: code(), version: reference(64), matchedRules: (0..<length(0...32)).map { _ in code() },
                matchedTerms: (0..<length(0...32)).map { _ in text(64) }, summary: maybe { $0.text(500) },
                correction: maybe {
                    ClassificationCorrection(
                        by: $0.identifier(), reason: $0.text(300), previousCategory: $0.pick(ComplaintCategory.self),
                        previousSeverity: $0.pick(Severity.self))
                }),
            registeredAt: maybe { $0.date() })
    }

    mutating func assigned() -> ComplaintAssigned {
        ComplaintAssigned(
            complaintID: uuid(), assignedAt: date(), registeredAt: date(), category: pick(ComplaintCategory.self),
            severity: pick(Severity.self), priority: Int(bounded(1...4)), department: code(),
            assignee: Assignee(staffID: identifier(), name: text(200), role: pick(ActorRole.self)), strategy: code(),
            reason: pick(AssignmentReason.self), escalationLevel: Int(bounded(0...3)), explanation: maybe { $0.text(500) })
    }

    mutating func compensation() -> Compensation {
        Compensation(
            id: uuid(), kind: pick(CompensationKind.self), amountMinor: bounded(0...10_000_000_000),
            currency: String((0..<3).map { _ in pick(Self.upper) }), reason: text(1000), decisionNote: maybe { $0.text(1000) })
    }

    mutating func change(_ kind: ComplaintUpdated.Kind) -> ComplaintUpdated.Change {
        switch kind {
        case .acknowledged: .acknowledged
        case .noteAdded: .noteAdded(ComplaintNote(text: text(4000), visibility: pick(NoteVisibility.self)))
        case .resolved: .resolved(Resolution(text: text(4000), rootCause: code(), isFirstContact: chance(0.5)))
        case .reopened: .reopened(Reopening(trigger: pick(ReopenTrigger.self), reason: text(1000)))
        case .compensationRequested: .compensationRequested(compensation())
        case .compensationApproved: .compensationApproved(compensation())
        case .compensationRejected: .compensationRejected(compensation())
        case .followUpRecorded:
            .followUpRecorded(FollowUp(
                satisfaction: Int(bounded(1...5)), nps: Int(bounded(0...10)), comment: maybe { $0.text(2000) },
                channel: maybe { $0.pick(ContactChannel.self) }))
        case .closed: .closed
        case .waitingForGuest: .waitingForGuest
        case .resumed: .resumed
        }
    }

    mutating func updated() -> ComplaintUpdated {
        ComplaintUpdated(
            complaintID: uuid(), change: change(pick(ComplaintUpdated.Kind.self)), occurredAt: date(),
            actor: EventActor(id: identifier(), role: pick(ActorRole.self), name: maybe { $0.text(200) }),
            statusAfter: pick(ComplaintStatus.self))
    }

    mutating func sla() -> ComplaintSLAEvent {
        let milestone: ComplaintSLAEvent.Milestone =
            switch pick(ComplaintSLAEvent.Kind.self) {
            case .timerStarted: .timerStarted
            case .warning: .warning
            case .breached: .breached
            case .escalated: .escalated(Escalation(level: Int(bounded(1...3)), escalateTo: pick(EscalationRole.self)))
            case .met: .met
            case .followUpDue: .followUpDue
            case .paused: .paused
            case .resumed: .resumed
            case .ceilingReached: .ceilingReached
            case .rescheduled: .rescheduled
            }
        return ComplaintSLAEvent(
            complaintID: uuid(), milestone: milestone, target: pick(SLATarget.self), severity: pick(Severity.self),
            deadline: date(), occurredAt: date(), latenessMilliseconds: maybe { Int64($0.bounded(0...86_400_000)) },
            acknowledgeBy: maybe { $0.date() }, resolveBy: maybe { $0.date() })
    }

    mutating func notification() -> NotificationOutcome {
        let status: NotificationOutcome.Status =
            switch pick(NotificationOutcome.Kind.self) {
            case .delivered: .delivered
            case .failed: .failed(NotificationFailure(code: code(), message: text(1000), isRetriable: chance(0.5)))
            case .givenUp: .givenUp(NotificationFailure(code: code(), message: text(1000), isRetriable: chance(0.5)))
            }
        return NotificationOutcome(
            notificationID: uuid(), complaintID: uuid(), status: status, channel: pick(DeliveryChannel.self),
            recipient: NotificationRecipient(
                kind: pick(RecipientKind.self), staffID: maybe { $0.identifier() }, role: maybe { $0.pick(ActorRole.self) }),
            template: code(), language: language(), attempts: Int(bounded(1...100)), occurredAt: date(),
            causeEventID: maybe { $0.uuid() })
    }

    mutating func alert() -> EarlyWarningAlert {
        let kind = pick(EarlyWarningAlert.Kind.self)
        return EarlyWarningAlert(
            alertID: uuid(), hotelID: identifier(), kind: kind, state: pick(EarlyWarningAlert.State.self),
            category: kind == .categorySpike ? pick(ComplaintCategory.self) : maybe { $0.pick(ComplaintCategory.self) },
            currency: kind == .compensationBudget ? "CNY" : maybe { _ in "EUR" },
            slaTarget: kind == .slaCompliance ? pick(SLATarget.self) : maybe { $0.pick(SLATarget.self) },
            severity: pick(AlertSeverity.self), window: AlertWindow(start: date(), end: date()),
            observed: Int(bounded(0...10_000_000_000_000)), baseline: number(0...10_000_000_000_000), ratio: number(0...1_000_000),
            pValue: maybe { $0.number(0...1) }, threshold: maybe { $0.number(0...1_000_000) }, detectedAt: date())
    }

    mutating func deadLetter() -> DeadLetterRecord {
        DeadLetterRecord(
            reason: text(2000), sourceTopic: run(Self.lower + Self.digits + Array("._-"), Self.lower + Self.upper + Array("._-"), 1...249),
            partition: Int(bounded(0...Int64(Int32.max))), offset: bounded(0...Int64.max), service: serviceName(),
            attempts: Int(bounded(1...1000)), failedAt: date(), originalKey: maybe { $0.bytes(64) },
            originalValue: maybe { $0.bytes(2048) },
            originalHeaders: (0..<length(0...64)).map { _ in (text(255), maybe { $0.bytes(1024) }) })
    }
}
