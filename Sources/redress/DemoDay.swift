import AsyncHTTPClient
import ComplaintEvents
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RdKafka
import ServiceLifecycle

/// `redress demo`: a day at the demo hotels played against the running services, `speed` times
/// faster than life. Each line of `services/demo/day.jsonl` is a complaint arriving at a time of the
/// day through one of the two doors (intake's HTTP API or `complaints.submitted.v1`), what the staff
/// then do (acknowledge, wait for the guest, request compensation, resolve — or nothing in time), and
/// how the guest answers the follow-up survey that reaches the demo mailbox. Everything goes through
/// the real APIs and topics; what happens is printed as it happens.
struct DemoDay: Service {
    /// One line of the script.
    struct Scene: Decodable, Sendable {
        struct Staff: Decodable, Sendable {
            var acknowledge: String?
            var waitForGuest: [String]?
            var compensation: Compensation?
            var resolve: String?
        }
        struct Compensation: Codable, Sendable {
            var kind: String
            var amountMinor: Int
            var currency: String
            var reason: String
        }
        struct Guest: Decodable, Sendable {
            var satisfaction: Int
            var recommend: Int
        }
        var at: String
        var door: String
        var staff: Staff
        var guest: Guest?
        /// The `POST /v1/complaints` body, without `externalId` and `reportedAt` (made per run).
        var complaint = Data()

        enum CodingKeys: String, CodingKey { case at, door, staff, guest }

        /// One line of the script file.
        static func parse(_ line: Substring) throws -> Scene {
            var scene = try JSONDecoder().decode(Scene.self, from: Data(line.utf8))
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            scene.complaint = try JSONSerialization.data(withJSONObject: object?["complaint"] ?? [:])
            return scene
        }
    }

    var intakeURL: String
    var apiKey: String
    var brokers: [String]
    var script: URL
    /// Where the demo's SMTP server keeps the mail (`<n>.eml` + `<n>.json`).
    var mailbox: URL
    var speed: Double
    var logger: Logger

    func run() async throws {
        // Ctrl-C ends the day at once: every scene is waiting on a timer or a mailbox.
        try await cancelWhenGracefulShutdown { try await playDay() }
    }

    private func playDay() async throws {
        let scenes = try String(contentsOf: script, encoding: .utf8).split(separator: "\n").filter { !$0.isEmpty }
            .map { try Scene.parse($0) }
        guard await waitForIntake() else {
            logger.error("intake did not become ready within 120 s; the demo day does not start (is redress-intake built?)")
            return
        }
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientID: "redress-demo"), logger: logger)
        let run = String(Int(Date().timeIntervalSince1970) % 1_000_000)
        let start = ContinuousClock.now
        say("the demo day starts: \(scenes.count) complaints over 24 hours at \(Int(speed))× (a simulated hour every \(String(format: "%.0f", 3600 / speed)) s)")
        await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // The day goes on without it (the HTTP door still works), but say why Kafka scenes fail.
                do { try await producer.run() } catch is CancellationError {} catch { say("the Kafka producer stopped: \(error)") }
            }
            await withTaskGroup(of: Void.self) { scenesGroup in
                for (index, scene) in scenes.enumerated() {
                    scenesGroup.addTask {
                        do {
                            try await play(scene, number: index + 1, run: run, start: start, producer: producer)
                        } catch is CancellationError {
                        } catch {
                            say("scene \(index + 1): \(error)")
                        }
                    }
                }
            }
            if !Task.isCancelled { say("the demo day is over; the services keep running until Ctrl-C") }
            tasks.cancelAll()
        }
    }

    // MARK: One scene

    private func play(_ scene: Scene, number: Int, run: String, start: ContinuousClock.Instant, producer: KafkaProducer) async throws {
        let arrival = Self.minutes(scene.at, clock: true)
        try await sleep(until: start, simulatedMinutes: arrival)
        var complaint = try JSONSerialization.jsonObject(with: scene.complaint) as? [String: Any] ?? [:]
        let externalID = "demo-\(run)-\(String(format: "%02d", number))"
        complaint["externalId"] = externalID
        complaint["reportedAt"] = ISO8601DateFormatter().string(from: Date())
        let hotel = complaint["hotelId"] as? String ?? "?"
        let source = complaint["source"] as? String ?? "demo"
        let text = complaint["text"] as? String ?? ""
        let email = (complaint["guest"] as? [String: Any])?["email"] as? String
        let body = try JSONSerialization.data(withJSONObject: complaint)
        let id: String
        if scene.door == "kafka" {
            try await publish(body, externalID: externalID, hotel: hotel, source: source, producer: producer)
            id = try await lookUp(source: source, externalID: externalID)
        } else {
            let reply = try await request(.POST, "/v1/complaints", body: String(decoding: body, as: UTF8.self))
            guard reply.status == 201, let created = reply.object?["id"] as? String else {
                throw DemoError("intake refused scene \(number): \(reply.status) \(reply.body.prefix(200))")
            }
            id = created
        }
        let short = String(id.prefix(8))
        say("\(hotel) \(short) arrives through \(scene.door == "kafka" ? "Kafka" : "HTTP"): \"\(Self.clip(text))\"")
        let assignee = try await waitForAssignee(id)
        say("\(hotel) \(short) assigned to \(assignee)")

        // Staff, in simulated time from the arrival.
        var events: [(minutes: Double, action: @Sendable () async throws -> Void)] = []
        if let acknowledge = scene.staff.acknowledge {
            events.append((Self.minutes(acknowledge), { try await act(id, "acknowledge", label: "\(hotel) \(short) acknowledged") }))
        }
        if let pause = scene.staff.waitForGuest, pause.count == 2 {
            events.append((Self.minutes(pause[0]), { try await act(id, "wait-for-guest", label: "\(hotel) \(short) waits for the guest") }))
            events.append((Self.minutes(pause[1]), { try await act(id, "resume", label: "\(hotel) \(short) resumed") }))
        }
        if let compensation = scene.staff.compensation, let resolve = scene.staff.resolve {
            let body = String(decoding: try JSONEncoder().encode(compensation), as: UTF8.self)
            events.append((Self.minutes(resolve) - 5, {
                try await act(id, "compensations", body: body, label: "\(hotel) \(short) compensation \(compensation.amountMinor) \(compensation.currency) (minor units)")
            }))
        }
        if let resolve = scene.staff.resolve {
            events.append((Self.minutes(resolve), { try await resolveComplaint(id, label: "\(hotel) \(short) resolved") }))
        }
        for (minutes, action) in events.sorted(by: { $0.minutes < $1.minutes }) {
            try await sleep(until: start, simulatedMinutes: arrival + minutes)
            try await action()
        }
        guard scene.staff.resolve != nil, let answer = scene.guest, let email else { return }

        // The guest: the survey link arrives by mail when the follow-up comes due.
        var answered = Set<String>()
        for round in 0..<2 {
            guard let link = try await waitForSurvey(to: email, excluding: answered) else {
                say("\(hotel) \(short) no survey mail for \(email) (quiet hours hold guest messages until morning)")
                return
            }
            answered.insert(link)
            let satisfaction = round == 0 ? answer.satisfaction : 4
            let reply = try await form(link, "satisfaction=\(satisfaction)&recommend=\(round == 0 ? answer.recommend : 8)")
            say("\(hotel) \(short) guest answered the survey: \(satisfaction)/5\(reply.status == 200 ? "" : " (\(reply.status))")")
            if satisfaction <= 2 {
                // Reopened: staff try again.
                try await sleep(until: .now, simulatedMinutes: 30)
                try await resolveComplaint(id, label: "\(hotel) \(short) resolved again after the unhappy answer")
                continue
            }
            try await act(id, "close", label: "\(hotel) \(short) closed")
            return
        }
    }

    // MARK: Doors and actions

    private func publish(_ complaint: Data, externalID: String, hotel: String, source: String, producer: KafkaProducer) async throws {
        let data = try JSONSerialization.jsonObject(with: complaint)
        let envelope: [String: Any] = [
            "specversion": "1.0", "id": UUID().uuidString.lowercased(), "source": "/demo/\(source)",
            "type": "redress.complaint.submitted.v1", "subject": externalID,
            "time": ISO8601DateFormatter().string(from: Date()), "datacontenttype": "application/json", "hotelid": hotel, "data": data,
        ]
        _ = try await producer.sendAndAwait(KafkaProducerMessage(
            topic: Topics.submitted.name, key: Array(externalID.utf8), value: Array(try JSONSerialization.data(withJSONObject: envelope))))
    }

    private func lookUp(source: String, externalID: String) async throws -> String {
        for _ in 0..<120 {
            let reply = try await request(.GET, "/v1/complaints?source=\(source)&externalId=\(externalID)")
            if let items = reply.object?["items"] as? [[String: Any]], let id = items.first?["id"] as? String { return id }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw DemoError("\(externalID) published on Kafka was not registered within 30 s")
    }

    private func waitForAssignee(_ id: String) async throws -> String {
        for _ in 0..<240 {
            let record = try await request(.GET, "/v1/complaints/\(id)").object
            if let assignee = record?["assignee"] as? [String: Any], let name = assignee["name"] as? String ?? assignee["staffId"] as? String {
                return name
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw DemoError("complaint \(id) was not assigned within 60 s")
    }

    private func act(_ id: String, _ action: String, body: String? = nil, label: String) async throws {
        let reply = try await request(.POST, "/v1/complaints/\(id)/\(action)", body: body)
        say(reply.status < 300 ? label : "\(label): refused \(reply.status) \(reply.body.prefix(160))")
    }

    private func resolveComplaint(_ id: String, label: String) async throws {
        try await act(id, "resolve", body: #"{"text":"Fixed and checked with the guest.","rootCause":"demo","firstContact":false}"#, label: label)
    }

    private func waitForSurvey(to address: String, excluding seen: Set<String>) async throws -> String? {
        // The follow-up comes a (simulated) day after the resolution, at most; quiet hours may hold it longer.
        let deadline = ContinuousClock.now + .seconds(max(120, 36 * 3600 / speed))
        while ContinuousClock.now < deadline {
            if let link = DemoMailbox.surveyLinks(in: mailbox, to: address).first(where: { !seen.contains($0) }) { return link }
            try await Task.sleep(for: .seconds(1))
        }
        return nil
    }

    // MARK: Plumbing

    private struct Reply {
        var status: Int
        var body: String
        var object: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }
    }

    private func request(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: intakeURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return Reply(status: Int(response.status.code), body: String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    private func form(_ url: String, _ body: String) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return Reply(status: Int(response.status.code), body: String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    private func sleep(until start: ContinuousClock.Instant, simulatedMinutes: Double) async throws {
        let target = start + .milliseconds(Int64(simulatedMinutes * 60_000 / speed))
        if target > .now { try await Task.sleep(until: target) }
    }

    private func say(_ line: String) {
        print("demo: \(line)")
        fflushStandardOutput()
    }

    /// `"2m"`, `"1h30m"`, `"45m"`; with `clock`, `"07:40"` (minutes since the day began).
    static func minutes(_ text: String, clock: Bool = false) -> Double {
        if clock {
            let parts = text.split(separator: ":").compactMap { Double($0) }
            return parts.count == 2 ? parts[0] * 60 + parts[1] : 0
        }
        var total = 0.0
        var number = ""
        for character in text {
            if character.isNumber { number.append(character); continue }
            let value = Double(number) ?? 0
            number = ""
            switch character {
            case "d": total += value * 1440
            case "h": total += value * 60
            case "m": total += value
            case "s": total += value / 60
            default: break
            }
        }
        return total
    }

    static func clip(_ text: String) -> String { text.count <= 48 ? text : String(text.prefix(47)) + "…" }

    private func waitForIntake() async -> Bool {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: intakeURL + "/health/ready"), timeout: .seconds(3)),
               response.status == .ok {
                return true
            }
            try? await Task.sleep(for: .seconds(1))
        }
        return false
    }
}

/// A demo step that could not be played.
struct DemoError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
