import Access
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging

/// Delivers the notifier's intents of one ``DeliveryKind`` (guest, staff, endpoint): finds the address,
/// renders the template, hands the message to the channel, and settles each attempt with a
/// `notifications.delivered.v1` receipt (delivered, failed and retrying, or given up) and the
/// `deliveries` row. Message bodies and addresses are never logged.
public struct DeliveryPerformer: WorkPerformer {
    public var kind: DeliveryKind
    public var rules: LiveConfiguration<NotificationRules>
    public var templates: TemplateCatalog
    public var channels: [DeliveryChannel: any NotificationChannel]
    public var guests: (any GuestContactSource)?
    /// Signs survey links; without it a follow-up survey message is given up with `survey_not_configured`.
    public var surveySecret: String?
    public var receipts: Topic<NotificationOutcome>
    public var source = "/redress/notifier"
    /// Keeps each endpoint to its rate limit and a refusing robot alone: one for the process, shared by the
    /// guest, staff and endpoint workers, and through the notifier's schema with the other replicas. No
    /// default: a pacer works only once shared (``EndpointPacer/share(through:schema:)``), so the caller
    /// that has the schema says which.
    public var pacer: EndpointPacer

    public init(
        kind: DeliveryKind, rules: LiveConfiguration<NotificationRules>, templates: TemplateCatalog,
        channels: [DeliveryChannel: any NotificationChannel], guests: (any GuestContactSource)?, surveySecret: String?,
        receipts: Topic<NotificationOutcome> = Topics.notifications, pacer: EndpointPacer
    ) {
        self.kind = kind
        self.rules = rules
        self.templates = templates
        self.channels = channels
        self.guests = guests
        self.surveySecret = surveySecret
        self.receipts = receipts
        self.pacer = pacer
    }

    public var kinds: [String] { [kind.rawValue] }

    public func perform(_ item: WorkItem, logger: Logger) async throws -> String {
        let intent: NotificationIntent
        do {
            intent = try item.decodePayload(NotificationIntent.self)
        } catch {
            throw DeliveryFailure.permanent("unreadable_intent", "the recorded intent does not decode (\(error))")
        }
        let rules = self.rules.current
        var guest: GuestContact?
        let channel: DeliveryChannel
        let destination: OutgoingMessage.Destination
        switch kind {
        case .guest:
            guard let guests else {
                // A deployment mistake, fixed by setting them: retried (for hours) rather than lost at once.
                throw DeliveryFailure.transient(
                    "guest_contacts_not_configured", "INTAKE_URL and INTAKE_API_KEY are not set", retryAfter: Self.configurationRetry)
            }
            let now = Date()
            // Retried for days (intake or the mail relay down), or held long past its time: not sent now.
            // Before the quiet hours: a stale message is given up, not kept for the morning.
            try Self.staleness(of: intent, maximumAge: rules.guestMessages.maximumAge, now: now)
            if let release = Self.quietHoursRelease(of: intent, rules: rules, now: now) {
                // Planned in the day, due at night after retries or an outage: it waits for the morning,
                // without using an attempt (a message deferred on its last one would be lost for no fault).
                // A wait, not the time: the end is a wall-clock time on this process's clock, and the queue
                // compares due times with the database's.
                throw DeliveryFailure.deferred(
                    "quiet_hours", "held until the hotel's quiet hours end", after: .milliseconds(Int64(release.timeIntervalSince(now) * 1000)))
            }
            if intent.supersededBy != nil {
                // Held for the quiet hours with a later message that replaces it: decided now, not when that
                // one was planned (it may never be sent), and on every attempt until one hands it to a channel
                // (an attempt that failed before, at intake's 503, made no call). Before intake is asked: a
                // message waiting on its superseder does not call intake each time it looks.
                try await supersession(of: intent, logger: logger)
            }
            let contact = try await guests.contact(for: intent.complaintID, logger: logger)
            guest = contact
            // "Received" is as old as the guest's report, which intake shows (the intent has its registration).
            try Self.staleness(of: intent, reportedAt: contact.reportedAt, maximumAge: rules.guestMessages.maximumAge, now: Date())
            (channel, destination) = try Self.guestDestination(
                for: intent, contact: contact, configured: Set(channels.keys), smsGateway: rules.smsGateway)
        case .staff:
            guard let address = intent.staffAddress else {
                throw DeliveryFailure.permanent("no_contact_details", "the rules file has no \(intent.channel.rawValue) address for this staff member")
            }
            if intent.channel == .sms {
                guard let gateway = rules.smsGateway else {
                    throw DeliveryFailure.permanent("not_configured", "no sms gateway endpoint")
                }
                destination = .phone(address, gateway: gateway)
            } else {
                destination = .email(address)
            }
            channel = intent.channel
        case .endpoint:
            guard let name = intent.endpoint, let endpoint = rules.endpoints[name] else {
                throw DeliveryFailure.permanent("unknown_endpoint", "the endpoint '\(intent.endpoint ?? "")' is no longer in the rules file")
            }
            channel = endpoint.channel
            destination = .endpoint(endpoint)
        }
        guard let implementation = channels[channel] else {
            throw DeliveryFailure.permanent("channel_not_configured", "no \(channel.rawValue) channel is configured (see services/notifier/README.md)")
        }
        let link = try link(for: intent, rules: rules, guest: guest)
        let values = MessageValues.make(intent: intent, rules: rules, templates: templates, guest: guest, link: link)
        guard let rendered = templates.render(intent.template, language: intent.language, values: values) else {
            throw DeliveryFailure.permanent("no_template", "no template \(intent.template) in \(intent.language)")
        }
        let message = OutgoingMessage(intent: intent, channel: channel, rendered: rendered, destination: destination, link: link)
        if let endpoint = destination.endpoint {
            let pacing: EndpointPacer.Pacing
            do {
                pacing = try await pacer.pace(endpoint: endpoint.name, key: item.idempotencyKey, limit: endpoint.rateLimit, logger: logger)
            } catch {
                // The shared log did not answer (another replica holds the endpoint's row, the database
                // fails): no call without it, and no attempt used for it.
                logger.warning("endpoint pacing unavailable; message deferred", metadata: ["endpoint": "\(endpoint.name)", "error": "\(error)"])
                throw DeliveryFailure.deferred(
                    "endpoint_pacing_busy", "the shared pacing of \(endpoint.name) did not answer; again shortly", after: Self.pacingBusyWait())
            }
            switch pacing {
            case .call:
                break
            case .held(let hold):
                // The robot refused another message for its rate limit a moment ago: this one waits with it.
                throw DeliveryFailure.deferred("endpoint_rate_limited", "\(endpoint.name) refused a message for its rate limit; held until then", until: hold)
            case .wait(let place):
                // A burst for one robot group: paced, not refused by the robot, and no attempt used.
                throw DeliveryFailure.deferred(
                    "endpoint_rate_limit", "held back by the rate limit of \(endpoint.name) (\(endpoint.rateLimit.map { "\($0)" } ?? ""))", until: place)
            }
        }
        var callRecorded = false
        if kind == .guest, intent.supersededBy != nil {
            // From this call on the held message is sent on any attempt, whatever became of its superseder.
            // So the lease is asked here, for the call and for recording it: asked only by the channel after
            // the record, a refusal (a slow superseder look-up or intake used up the lease) deferred the
            // message with `called_at` set, and a later attempt sent it without looking whether its
            // superseder had been delivered meanwhile: the guest got both.
            // That check assumes the record takes at most its statement's bound, but waiting for a connection
            // is not bounded: when the channel still refuses the call for its lease, the record made by this
            // attempt is taken back below, so the guarantee does not rest on the timing.
            try WorkLease.beforeCall(
                taking: Self.longestCall(of: implementation, to: destination), after: HeldGuestMessages.statementBound,
                "the call of a held guest message")
            do {
                let (client, schema) = try pacer.notifierSchema()
                callRecorded = try await HeldGuestMessages.recordCall(intent, client: client, schema: schema, logger: logger)
            } catch {
                logger.warning("could not record the call of a superseded guest message; message deferred", metadata: ["error": "\(String(reflecting: error))"])
                throw DeliveryFailure.deferred(
                    "superseder_unknown", "the call of a guest message a later one replaces could not be recorded; again shortly",
                    after: Self.pacingBusyWait())
            }
        }
        let refusedBefore = WorkLease.current?.refused != nil
        do {
            return try await implementation.send(message, logger: logger)
        } catch where callRecorded && (error is WorkLeaseRunningOut || (!refusedBefore && WorkLease.current?.refused != nil)) {
            // The channel refused the call for its lease, before making it (a channel may wrap the refusal;
            // the lease remembers it), after this attempt recorded it: taken back, so that the next attempt
            // looks again whether the superseder was delivered meanwhile.
            do {
                let (client, schema) = try pacer.notifierSchema()
                try await HeldGuestMessages.unrecordCall(intent, item: item, client: client, schema: schema, logger: logger)
            } catch let clearing {
                // Left set, the next attempt sends the message whatever became of its superseder (both may reach the guest).
                logger.warning("could not take back the record of a held guest message's refused call", metadata: [
                    "notification.id": "\(intent.notificationID)", "error": "\(String(reflecting: clearing))",
                ])
            }
            throw error
        } catch let deferral as WorkDeferral {
            // A rate-limit refusal (RobotChannel): not an attempt, and the endpoint's other messages wait too.
            if let endpoint = destination.endpoint {
                do {
                    try await pacer.holdRobot(endpoint: endpoint.name, until: deferral.until, logger: logger)
                } catch {
                    // The refusal still stands: this message waits without an attempt; the others may try once.
                    logger.warning("could not hold the robot for the other replicas", metadata: ["endpoint": "\(endpoint.name)", "error": "\(error)"])
                }
            }
            throw deferral
        } catch var failure as WorkFailure {
            // A guest's message may have gone by SMS though the intent names e-mail first: say which.
            failure.reason += " \(DeliveryFailure.viaMarker(channel))"
            throw failure
        }
    }

    /// Throws when the held guest message `intent` is not to be sent now (``HeldGuestMessages/decide(_:client:schema:logger:)``):
    /// given up as `superseded_by_<trigger>` once its superseder was delivered, deferred (no attempt used)
    /// while that one is still to be sent, or while the look-up does not answer.
    func supersession(of intent: NotificationIntent, logger: Logger) async throws {
        let decision: HeldGuestMessages.Decision
        do {
            let (client, schema) = try pacer.notifierSchema()
            decision = try await HeldGuestMessages.decide(intent, client: client, schema: schema, logger: logger)
        } catch {
            logger.warning("superseding guest message not readable; message deferred", metadata: ["error": "\(String(reflecting: error))"])
            throw DeliveryFailure.deferred(
                "superseder_unknown", "whether a later guest message replaces this one could not be read; again shortly", after: Self.pacingBusyWait())
        }
        switch decision {
        case .send:
            return
        case .supersede(let code):
            throw DeliveryFailure.permanent(
                code, "a later guest message for this complaint, planned while this one waited for the hotel's quiet hours, was delivered")
        case .wait(let wait):
            throw DeliveryFailure.deferred(
                "superseder_pending", "held until the later guest message that replaces it is sent or given up", after: wait)
        }
    }

    /// Where a guest message goes now: nowhere if the guest asked not to be contacted or the complaint
    /// moved on (``stillApplies(trigger:status:)``); else the first of the intent's channels, the
    /// guest's preferred one first, that this notifier can send by and the guest left an address for.
    static func guestDestination(
        for intent: NotificationIntent, contact: GuestContact, configured: Set<DeliveryChannel>, smsGateway: Endpoint?
    ) throws(WorkFailure) -> (DeliveryChannel, OutgoingMessage.Destination) {
        if contact.optedOut { throw DeliveryFailure.permanent("guest_opted_out", "the guest asked not to be contacted") }
        if let status = contact.status, !stillApplies(trigger: intent.trigger, status: status) {
            throw DeliveryFailure.permanent("no_longer_applicable", "the complaint is \(status) now")
        }
        let wanted = intent.guestChannels ?? [intent.channel]
        let candidates = wanted.filter { configured.contains($0) && ($0 != .sms || smsGateway != nil) }
        guard !candidates.isEmpty else {
            // A deployment without the rule's channels (no SMTP_HOST, no gateway): not the guest's doing.
            throw DeliveryFailure.permanent(
                "channel_not_configured", "no \(wanted.map(\.rawValue).joined(separator: " or ")) channel is configured (see services/notifier/README.md)")
        }
        for candidate in candidates {
            if candidate == .email, let email = contact.email { return (.email, .email(email)) }
            if candidate == .sms, let phone = contact.phone, let smsGateway { return (.sms, .phone(phone, gateway: smsGateway)) }
        }
        throw DeliveryFailure.permanent("no_contact_details", "the guest left no address for \(candidates.map(\.rawValue).joined(separator: " or "))")
    }

    /// Throws `guest_message_stale` (given up) when the guest message `intent` is older than `maximumAge`
    /// at `now` (zero: no limit): measured from its cause's time, or for `received` from the complaint's
    /// `reportedAt` when intake showed it. The planning check (``GuestMessageHistory/staleness(since:limits:now:)``)
    /// skips a message already stale then; this one gives up a message that became stale while it retried.
    static func staleness(of intent: NotificationIntent, reportedAt: Date? = nil, maximumAge: Duration, now: Date) throws(WorkFailure) {
        let since = intent.trigger == NotificationTrigger.received.name ? min(reportedAt ?? intent.causeTime, intent.causeTime) : intent.causeTime
        let limits = NotificationRules.GuestMessageLimits(maximumAge: maximumAge)
        if let refusal = GuestMessageHistory.staleness(since: since, limits: limits, now: now) {
            throw DeliveryFailure.permanent(refusal.code, refusal.message)
        }
    }

    /// When the hotel's quiet hours that `now` falls in end, for a guest message of a rule that is not
    /// urgent; `nil` when it may go now. A rule no longer in the file counts as not urgent.
    static func quietHoursRelease(of intent: NotificationIntent, rules: NotificationRules, now: Date) -> Date? {
        guard rules.rules.first(where: { $0.name == intent.rule })?.urgent != true else { return nil }
        let hotel = rules.hotel(intent.hotelID)
        return hotel.quietHours?.release(for: now, in: hotel.timeZone)
    }

    /// The longest a call of `implementation` to `destination` may take, as the channel asks its work lease
    /// for it (``ComplaintPipeline/WorkLease/beforeCall(taking:after:_:)``): an HTTP receiver's exchange (SMS
    /// gateway, webhook, robot) twice its timeout, an e-mail the SMTP exchange's total; zero for a channel
    /// that does not ask.
    static func longestCall(of implementation: any NotificationChannel, to destination: OutgoingMessage.Destination) -> Duration {
        switch destination {
        case .phone(_, let gateway): gateway.timeout * 2
        case .endpoint(let endpoint): endpoint.timeout * 2
        case .email: (implementation as? EmailChannel)?.client.configuration.totalTimeout ?? .zero
        }
    }

    /// How long a message waits when the shared endpoint pacing did not answer: 5 to 10 s, at random, so
    /// that the messages of a busy endpoint do not all come back together.
    static func pacingBusyWait() -> Duration { .milliseconds(Int64.random(in: 5_000...10_000)) }

    /// How long a guest message waits for a missing setting (intake's address, the survey secret) between tries.
    static let configurationRetry: Duration = .seconds(300)

    /// Whether a guest message planned for `trigger` still fits the complaint's `status` when it is due:
    /// a "resolved" message or a survey held by quiet hours or retries is not sent once the complaint
    /// was reopened, and a survey not once it is closed. "We have received your complaint, a member of our
    /// team will look after it" is not sent once it is resolved or closed (retried while the mail relay was
    /// down, it reached the guest after "it is resolved"): decided by intake's status, not by whether the
    /// "resolved" message went, since that one may have been skipped, given up or never planned, and the
    /// registration message would still say something no longer true.
    static func stillApplies(trigger: String, status: String) -> Bool {
        switch trigger {
        case NotificationTrigger.updated(.resolved).name: status == "resolved" || status == "closed"
        case NotificationTrigger.sla(.followUpDue).name: status == "resolved"
        case NotificationTrigger.received.name: status != "resolved" && status != "closed"
        default: true
        }
    }

    /// A survey link that would expire within this time of being sent is not sent (`survey_expired`): the
    /// guest would open an "expired" page (retries or an outage took most of `survey.validFor`).
    static let surveyExpiryMargin: Duration = .seconds(6 * 3_600)

    /// Staff get the complaint's link; a guest's follow-up survey gets a signed, expiring survey link
    /// naming the resolution it asks about (``surveyedResolution(of:among:)``), or, when intake showed
    /// no resolution, a `v1` link naming none.
    func link(for intent: NotificationIntent, rules: NotificationRules, guest: GuestContact? = nil, now: Date = Date()) throws -> String? {
        if intent.recipient.kind == .staff {
            return rules.links.complaint.replacingOccurrences(of: "{complaintId}", with: intent.complaintID.uuidString.lowercased())
        }
        guard intent.trigger == NotificationTrigger.sla(.followUpDue).name else { return nil }
        guard let surveySecret else {
            throw DeliveryFailure.transient("survey_not_configured", "SURVEY_TOKEN_SECRET is not set", retryAfter: Self.configurationRetry)
        }
        // From the cause's time, so every attempt sends the same link.
        let expiry = intent.causeTime.addingTimeInterval(Double(rules.surveyValidity.components.seconds))
        guard expiry.timeIntervalSince(now) > Double(Self.surveyExpiryMargin.components.seconds) else {
            throw DeliveryFailure.permanent(
                "survey_expired",
                "the survey link expires \(ISO8601DateFormatter().string(from: expiry)) (the follow-up's time plus survey.validFor), within \(Self.surveyExpiryMargin) of now")
        }
        let resolvedAt = try guest.flatMap { try Self.surveyedResolution(of: intent, among: $0.resolutions) }
        let token = SurveyToken(complaintID: intent.complaintID, resolvedAt: resolvedAt, expiresAt: expiry, secret: surveySecret)
        return rules.links.survey.replacingOccurrences(of: "{token}", with: token.description)
    }

    /// The resolution a follow-up survey asks about, among the complaint's (intake's timeline, oldest
    /// first): the last one recorded by the time the follow-up fell due (the clock event's deadline, a
    /// second's grace for rounding). The sla-watcher drops the follow-up timer at a reopening, so a
    /// follow-up is due for the resolution current then; `nil` when intake showed none.
    /// - Throws: `no_longer_applicable` when a later resolution followed it (the message waited, for
    ///   quiet hours or retries, while the complaint was reopened and resolved again): that resolution's
    ///   own follow-up sends its survey, and this link would only show "an earlier resolution".
    static func surveyedResolution(of intent: NotificationIntent, among resolutions: [Date]) throws(WorkFailure) -> Date? {
        guard let latest = resolutions.last else { return nil }
        let due = (intent.facts.deadline ?? intent.causeTime).addingTimeInterval(1)
        // None by then: the clock and intake disagree on the times; the latest is the best guess.
        guard let index = resolutions.lastIndex(where: { $0 <= due }) else { return latest }
        guard index == resolutions.count - 1 else {
            throw DeliveryFailure.permanent(
                "no_longer_applicable", "the survey is for an earlier resolution: the complaint was reopened and resolved again since")
        }
        return resolutions[index]
    }

    public func record(_ item: WorkItem, result: WorkResult, context: WorkContext) async throws -> [OutgoingEvent] {
        guard let intent = try? item.decodePayload(NotificationIntent.self) else { return [] }
        let status: NotificationOutcome.Status
        var channel = intent.channel
        var receipt: String?
        let rowStatus: String
        switch result {
        case .succeeded(let outcome):
            status = .delivered
            // The receipt starts with the channel actually used (a guest's e-mail or SMS).
            if let first = outcome.split(separator: " ").first, let used = DeliveryChannel(rawValue: String(first)) { channel = used }
            receipt = outcome
            rowStatus = "delivered"
        case .willRetry(let reason, _):
            let (code, message) = DeliveryFailure.parse(reason)
            channel = DeliveryFailure.channel(in: reason) ?? channel
            status = .failed(NotificationFailure(code: code, message: message, isRetriable: true))
            rowStatus = "retrying"
        case .failed(let reason):
            let (code, message) = DeliveryFailure.parse(reason)
            if HeldGuestMessages.isSuperseded(code: code) {
                // No call was made: this attempt is not counted, and no receipt for it.
                try await HeldGuestMessages.recordSuperseded(
                    intent, item: item, code: code, reason: message, on: context.connection, logger: context.logger)
                // Earlier attempts failed before any call (intake did not answer) and each published a
                // failed-and-retrying receipt: the stream ends with a given-up one counting those attempts.
                guard item.attempt > 1 else { return [] }
                let outcome = NotificationOutcome(
                    notificationID: intent.notificationID, complaintID: intent.complaintID,
                    status: .givenUp(NotificationFailure(code: code, message: message, isRetriable: false)), channel: channel,
                    recipient: intent.recipient, template: intent.template, language: intent.language, attempts: min(item.attempt - 1, 100),
                    occurredAt: Date(), causeEventID: intent.causeEventID)
                let envelope = EventEnvelope(source: source, time: outcome.occurredAt, hotelID: intent.hotelID, data: outcome)
                return [try OutgoingEvent(envelope, on: receipts)]
            }
            channel = DeliveryFailure.channel(in: reason) ?? channel
            status = .givenUp(NotificationFailure(code: code, message: message, isRetriable: false))
            rowStatus = "given_up"
        case .deferred(let reason, let until):
            // Not an attempt, so no receipt (there is one per attempt): the row says why it waits and until when.
            try await DeliveryLedger.recordDeferred(
                intent.notificationID, attempts: item.attempt - 1, reason: DeliveryFailure.parse(reason).message, until: until,
                on: context.connection, logger: context.logger)
            return []
        }
        var error: String?
        if case .failed(let failure) = status { error = failure.message }
        if case .givenUp(let failure) = status { error = failure.message }
        try await DeliveryLedger.recordAttempt(
            intent.notificationID, status: rowStatus, channel: channel, attempts: item.attempt, error: error, receipt: receipt,
            settled: rowStatus != "retrying", on: context.connection, logger: context.logger)
        let outcome = NotificationOutcome(
            notificationID: intent.notificationID, complaintID: intent.complaintID, status: status, channel: channel,
            recipient: intent.recipient, template: intent.template, language: intent.language, attempts: min(item.attempt, 100),
            occurredAt: Date(), causeEventID: intent.causeEventID)
        let envelope = EventEnvelope(source: source, time: outcome.occurredAt, hotelID: intent.hotelID, data: outcome)
        return [try OutgoingEvent(envelope, on: receipts)]
    }
}
