import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging

/// Decides, for one consumed event, who is told what: the rules that match its trigger and the
/// complaint, expanded into one ``NotificationIntent`` per recipient and channel, with the language
/// picked (guest's own, else the hotel's) and quiet hours applied to non-urgent guest messages.
public struct NotificationPlanner: Sendable {
    public var rules: LiveConfiguration<NotificationRules>
    public var templates: TemplateCatalog
    /// The current time (tests move it into quiet hours).
    public var now: @Sendable () -> Date = { Date() }

    public init(rules: LiveConfiguration<NotificationRules>, templates: TemplateCatalog) {
        self.rules = rules
        self.templates = templates
    }

    /// A planned intent with the time it may be sent (`nil`: now).
    public struct Planned: Sendable, Hashable {
        public var intent: NotificationIntent
        public var dueAt: Date?
        /// The work-queue kind: `guest`, `staff` or `endpoint`.
        public var kind: DeliveryKind
    }

    /// Whether a rule for `trigger` tells the assignee while nobody is assigned yet: the notification
    /// then waits for the assignment (``NotificationRecorder``).
    public func awaitsAssignee(_ trigger: NotificationTrigger, facts: ComplaintFacts) -> Bool {
        guard facts.assignee == nil else { return false }
        return rules.current.rules.contains { rule in
            rule.matches(trigger, hotel: facts.hotelID, severity: facts.severity, category: facts.category)
                && rule.recipients.contains { if case .assignee = $0 { true } else { false } }
        }
    }

    /// The intents for `trigger`; with `onlyAssignee`, those for the assignee alone (a notification
    /// that waited for the assignment).
    public func plan(
        _ trigger: NotificationTrigger, cause: (id: UUID, time: Date), facts: ComplaintFacts, details: MessageFacts, onlyAssignee: Bool = false
    ) -> [Planned] {
        let rules = self.rules.current
        let hotel = rules.hotel(facts.hotelID)
        var planned: [Planned] = []
        for rule in rules.rules where rule.matches(trigger, hotel: facts.hotelID, severity: facts.severity, category: facts.category) {
            for selector in rule.recipients {
                if onlyAssignee, case .assignee = selector {} else if onlyAssignee { continue }
                func intent(channel: DeliveryChannel, recipient: NotificationRecipient, language: String, endpoint: String? = nil, address: String? = nil) -> NotificationIntent {
                    var intent = NotificationIntent(
                        notificationID: UUID(), complaintID: facts.complaintID, hotelID: facts.hotelID, causeEventID: cause.id,
                        causeTime: cause.time, trigger: trigger.name, rule: rule.name, template: rule.template, language: language,
                        channel: channel, recipient: recipient, endpoint: endpoint, staffAddress: address, facts: details)
                    intent.notificationID = NotificationIntent.notificationID(forKey: intent.idempotencyKey)
                    return intent
                }
                switch selector {
                case .guest:
                    // `ContactChannel.none`, not `.none`: that would be the optional's nil.
                    guard facts.preferredContact != ContactChannel.none else { continue }
                    let language = pickLanguage(rule.template, wanted: [facts.guestLanguage, hotel.language])
                    let channels = Self.guestChannels(rule.channels, preferred: facts.preferredContact)
                    let due = rule.urgent ? nil : hotel.quietHours?.release(for: now(), in: hotel.timeZone)
                    var guestIntent = intent(channel: channels[0], recipient: NotificationRecipient(kind: .guest, role: .guest), language: language)
                    guestIntent.guestChannels = channels
                    planned.append(Planned(intent: guestIntent, dueAt: due, kind: .guest))
                case .assignee:
                    guard let assignee = facts.assignee else { continue }
                    let contact = rules.staffContact(hotel: facts.hotelID, staffID: assignee.staffID)
                    let language = pickLanguage(rule.template, wanted: [contact?.language, hotel.language])
                    // The first of the rule's channels the directory has an address for; e-mail (failing
                    // with no_contact_details, so someone notices) when there is none.
                    var chosen: (DeliveryChannel, String?) = (.email, nil)
                    for channel in rule.channels {
                        if channel == .email, let address = contact?.email ?? hotel.staffEmail.map({ $0.replacingOccurrences(of: "{staffId}", with: assignee.staffID.lowercased()) }) {
                            chosen = (.email, address)
                            break
                        }
                        if channel == .sms, let phone = contact?.phone {
                            chosen = (.sms, phone)
                            break
                        }
                    }
                    planned.append(Planned(
                        intent: intent(
                            channel: chosen.0, recipient: NotificationRecipient(kind: .staff, staffID: assignee.staffID, role: assignee.role),
                            language: language, address: chosen.1),
                        dueAt: nil, kind: .staff))
                case .robots, .endpoint:
                    let names: [String]
                    if case .endpoint(let name) = selector { names = [name] } else { names = hotel.robots }
                    for name in names {
                        guard let endpoint = rules.endpoints[name] else { continue }
                        let language = pickLanguage(rule.template, wanted: [hotel.language])
                        planned.append(Planned(
                            intent: intent(channel: endpoint.channel, recipient: NotificationRecipient(kind: .staff), language: language, endpoint: name),
                            dueAt: nil, kind: .endpoint))
                    }
                }
            }
        }
        return planned
    }

    /// The first wanted language the template exists in, else English, else any it exists in.
    func pickLanguage(_ template: String, wanted: [String?]) -> String {
        let available = templates.languages(of: template)
        for language in wanted.compactMap({ $0?.lowercased() }) {
            // Language tags are case-insensitive: `EN-us` is en-US.
            if let exact = available.first(where: { $0.lowercased() == language }) { return exact }
            // `zh` or `zh-Hans-CN` from a guest profile still finds zh-CN; `en-GB` finds en.
            let base = language.split(separator: "-").first.map(String.init) ?? language
            if let match = available.first(where: { $0.lowercased() == base || $0.lowercased().hasPrefix(base + "-") }) { return match }
        }
        if templates.has(template, language: "en") { return "en" }
        return templates.languages(of: template).first ?? "en"
    }

    /// The rule's person channels with the guest's preferred one first.
    static func guestChannels(_ channels: [DeliveryChannel], preferred: ContactChannel?) -> [DeliveryChannel] {
        let wanted: DeliveryChannel? = switch preferred {
        case .email: .email
        case .sms, .phone: .sms
        default: nil
        }
        guard let wanted, channels.contains(wanted) else { return channels }
        return [wanted] + channels.filter { $0 != wanted }
    }
}

/// The notifier's work-queue kinds: each has its own worker, so a hanging robot endpoint never holds up
/// guest or staff messages.
public enum DeliveryKind: String, Sendable, Hashable, CaseIterable {
    /// A guest, by e-mail or SMS (address from intake at send time).
    case guest
    /// A staff member, by e-mail or SMS (address from the rules file).
    case staff
    /// A robot group or webhook endpoint.
    case endpoint
}
