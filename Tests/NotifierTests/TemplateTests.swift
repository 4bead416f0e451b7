import ComplaintEvents
import ComplaintPipeline
import Foundation
@testable import Notifier
import Testing

@Suite("Notification templates")
struct TemplateTests {
    static let names = [
        "complaint_received_guest", "complaint_resolved_guest", "followup_survey_guest", "complaint_assigned_staff",
        "complaint_escalated_staff", "sla_warning_staff", "sla_breached_staff", "complaint_reopened_staff", "serious_complaint_staff",
    ]

    @Test("every shipped template exists in en and zh-CN and renders without leftovers")
    func shippedTemplates() throws {
        let templates = try NotifierFixtures.templates()
        let rules = try RulesFile.load(contentsOf: NotifierFixtures.rulesFile, environment: [:])
        for name in Self.names {
            for language in ["en", "zh-CN"] {
                #expect(templates.has(name, language: language), "\(name) in \(language)")
                var intent = NotifierFixtures.intent(template: name, language: language)
                intent.facts.deadline = Date(timeIntervalSince1970: 1_764_660_600)
                intent.facts.target = .resolve
                intent.facts.escalationLevel = 2
                let values = MessageValues.make(
                    intent: intent, rules: rules, templates: templates, guest: GuestContact(name: "Wei Li"), link: "https://x.example/l")
                let message = try #require(templates.render(name, language: language, values: values))
                #expect(!message.subject.isEmpty && !message.text.isEmpty)
                #expect(message.html?.contains("<p>") == true)
                for part in [message.subject, message.text, message.html ?? ""] {
                    #expect(!part.contains("{{") && !part.contains("}}"), "\(name)/\(language): \(part)")
                }
            }
        }
    }

    @Test("zh-CN staff message: labels in Chinese, the hotel's local deadline, the link")
    func chineseStaffMessage() throws {
        let templates = try NotifierFixtures.templates()
        let rules = try RulesFile.load(contentsOf: NotifierFixtures.rulesFile, environment: [:])
        var intent = NotifierFixtures.intent(template: "sla_warning_staff", language: "zh-CN")
        intent.facts.target = .acknowledge
        intent.facts.deadline = ISO8601DateFormatter().date(from: "2026-12-02T06:30:00Z")
        let values = MessageValues.make(intent: intent, rules: rules, templates: templates, guest: nil, link: "https://redress.example/c/9")
        let message = try #require(templates.render("sla_warning_staff", language: "zh-CN", values: values))
        #expect(message.subject.contains("受理"))
        #expect(message.subject.contains("2026-12-02 14:30 (Asia/Shanghai)"))
        #expect(message.text.contains("严重设施维修投诉"))
        #expect(message.text.contains("Chen Jie"))
        #expect(message.text.contains("https://redress.example/c/9"))
    }

    @Test("a guest message names the assignee by first name only and never the department")
    func guestSeesFirstNameOnly() throws {
        let templates = try NotifierFixtures.templates()
        let rules = try RulesFile.load(contentsOf: NotifierFixtures.rulesFile, environment: [:])
        let intent = NotifierFixtures.intent(
            template: "complaint_resolved_guest", language: "en", channel: .email,
            recipient: NotificationRecipient(kind: .guest, role: .guest), endpoint: nil, trigger: "updated.resolved", hotel: "LON-KX02")
        let values = MessageValues.make(intent: intent, rules: rules, templates: templates, guest: GuestContact(name: "Emma Watson"), link: nil)
        #expect((values["assignee"] as? [String: String]) == ["firstName": "Chen"])
        let message = try #require(templates.render("complaint_resolved_guest", language: "en", values: values))
        #expect(message.text.contains("Dear Emma,"))
        #expect(message.text.contains("resolved by Chen."))
        #expect(!message.text.contains("Jie"))
        #expect(!message.text.contains("engineering"))
        #expect(message.text.contains("Redress London King's Cross"))
        // HTML escapes what it shows; text does not.
        #expect(message.html?.contains("King&#39;s Cross") == true || message.html?.contains("King&#x27;s Cross") == true)
    }

    @Test("a staff name written without spaces in Chinese script is the whole name: guests see none of it")
    func guestSeesNoChineseFullName() throws {
        let templates = try NotifierFixtures.templates()
        let rules = try RulesFile.load(contentsOf: NotifierFixtures.rulesFile, environment: [:])
        var intent = NotifierFixtures.intent(
            template: "complaint_resolved_guest", language: "zh-CN", channel: .email,
            recipient: NotificationRecipient(kind: .guest, role: .guest), endpoint: nil, trigger: "updated.resolved")
        intent.facts.assigneeName = "王建国"
        let values = MessageValues.make(intent: intent, rules: rules, templates: templates, guest: GuestContact(name: "李伟"), link: nil)
        #expect(values["assignee"] == nil)
        let message = try #require(templates.render("complaint_resolved_guest", language: "zh-CN", values: values))
        #expect(!message.text.contains("王"), "\(message.text)")
        #expect(message.text.contains("处理完毕"))
        #expect(MessageValues.guestFacingFirstName("Maria Rossi") == "Maria")
        #expect(MessageValues.guestFacingFirstName("王 建国") == nil)
        #expect(MessageValues.guestFacingFirstName("김민준") == nil)
    }

    @Test("a template that does not parse is refused with its file")
    func brokenTemplate() throws {
        #expect(throws: TemplateCatalog.LoadError.self) {
            _ = try TemplateCatalog(texts: ["en": ["broken": ["subject": "{{#open}} never closed", "text": "x"]]])
        }
        #expect(throws: TemplateCatalog.LoadError.self) {
            _ = try TemplateCatalog(texts: ["en": ["nosubject": ["text": "x"]]])
        }
    }
}
