import Foundation
import Mustache

/// The guest's follow-up survey page (回访) and the pages around it — thank you, already answered,
/// expired, not valid — in the guest's language, as one small mobile-friendly HTML document rendered with
/// swift-mustache (values HTML-escaped). No script, no external resources.
struct SurveyPage: Sendable {
    /// What to show.
    enum Kind: Sendable {
        /// The questions; `errors` after a bad submission, with what the guest entered kept.
        case form(errors: [String], satisfaction: Int?, recommend: Int?, comment: String)
        case thanks(reopened: Bool)
        case alreadyAnswered
        /// The link asks about an earlier resolution: the complaint was reopened and resolved again.
        case earlierResolution
        case expired
        case invalid
        case closed
        case disabled
        /// The database is away: try again shortly (503).
        case unavailable
        /// The form is larger than a survey answer can be (413).
        case tooLarge
    }

    private static let template: MustacheTemplate = {
        // swiftlint:disable:next force_try
        try! MustacheTemplate(string: html)
    }()

    /// `zh-CN` for any Chinese preference, else English.
    static func language(for preference: String?) -> String {
        guard let preference = preference?.lowercased() else { return "en" }
        return preference.hasPrefix("zh") ? "zh-CN" : "en"
    }

    static func render(_ kind: Kind, language: String, reference: String?, action: String) -> String {
        let text = language == "zh-CN" ? Strings.chinese : Strings.english
        var values: [String: Any] = ["lang": language, "title": text["title"]!, "reference": reference ?? "", "action": action]
        values["text"] = text
        switch kind {
        case .form(let errors, let satisfaction, let recommend, let comment):
            values["form"] = true
            values["errors"] = errors
            values["hasErrors"] = !errors.isEmpty
            values["satisfaction"] = (1...5).map { (value: Int) -> [String: Any] in
                ["value": value, "checked": value == satisfaction, "label": text["satisfaction\(value)"] ?? ""]
            }
            values["recommend"] = (0...10).map { (value: Int) -> [String: Any] in ["value": value, "checked": value == recommend] }
            values["comment"] = comment
        case .thanks(let reopened):
            (values["heading"], values["message"]) = (text["thanksHeading"]!, text[reopened ? "thanksSorry" : "thanks"]!)
        default:
            let (heading, message) = Self.outcomeKeys(kind)
            (values["heading"], values["message"]) = (text[heading]!, text[message]!)
        }
        return template.render(values)
    }

    /// The heading and message keys of a page that is not the form.
    private static func outcomeKeys(_ kind: Kind) -> (String, String) {
        switch kind {
        case .alreadyAnswered: ("alreadyAnsweredHeading", "alreadyAnswered")
        case .earlierResolution: ("earlierResolutionHeading", "earlierResolution")
        case .expired: ("expiredHeading", "expired")
        case .closed: ("closedHeading", "closed")
        case .disabled: ("invalidHeading", "disabled")
        case .unavailable: ("unavailableHeading", "unavailable")
        case .tooLarge: ("tooLargeHeading", "tooLarge")
        case .invalid, .form, .thanks: ("invalidHeading", "invalid")
        }
    }

    /// The page's words in each language.
    enum Strings {
        static let english: [String: String] = [
            "title": "How did we do?",
            "intro": "You recently told us about a problem during your stay. We would like to know how we handled it.",
            "reference": "Reference",
            "satisfactionQuestion": "How satisfied are you with how we resolved it?",
            "satisfaction1": "Very dissatisfied", "satisfaction2": "Dissatisfied", "satisfaction3": "Neutral",
            "satisfaction4": "Satisfied", "satisfaction5": "Very satisfied",
            "recommendQuestion": "How likely are you to recommend us to a friend? (0 = not at all, 10 = extremely likely)",
            "commentQuestion": "Anything else you would like to tell us? (optional)",
            "submit": "Send my answer",
            "errorsHeading": "Please check your answer:",
            "errorSatisfaction": "Choose how satisfied you are (1 to 5).",
            "errorRecommend": "Choose how likely you are to recommend us (0 to 10).",
            "errorComment": "The comment is too long (at most 2000 characters).",
            "thanksHeading": "Thank you",
            "thanks": "Thank you for your answer. It helps us do better.",
            "thanksSorry": "Thank you for your answer. We are sorry we did not get it right: the hotel's manager will look at your case again and contact you.",
            "alreadyAnsweredHeading": "Already answered",
            "alreadyAnswered": "This survey has already been answered. Thank you.",
            "earlierResolutionHeading": "This survey is for an earlier resolution",
            "earlierResolution": "Your complaint was reopened and resolved again after we sent this link, so it no longer asks about the latest resolution. We have sent you, or will soon send you, a new survey for it: please answer that one.",
            "expiredHeading": "This link has expired",
            "expired": "The survey link has expired. If you would still like to tell us something, please reply to our message or contact the hotel.",
            "invalidHeading": "This link is not valid",
            "invalid": "We could not recognise this survey link. Please use the link exactly as we sent it.",
            "closedHeading": "This survey is closed",
            "closed": "This complaint is no longer waiting for your answer. If something is still wrong, please contact the hotel.",
            "disabled": "Surveys are not available here.",
            "unavailableHeading": "Please try again shortly",
            "unavailable": "We cannot take your answer at the moment. Please open the link again in a few minutes.",
            "tooLargeHeading": "Your answer is too long",
            "tooLarge": "Please shorten your comment and send your answer again.",
        ]
        static let chinese: [String: String] = [
            "title": "您对我们的处理满意吗？",
            "intro": "您在入住期间向我们反映了问题，我们想了解您对处理结果的评价。",
            "reference": "编号",
            "satisfactionQuestion": "您对问题的处理结果是否满意？",
            "satisfaction1": "非常不满意", "satisfaction2": "不满意", "satisfaction3": "一般",
            "satisfaction4": "满意", "satisfaction5": "非常满意",
            "recommendQuestion": "您向亲友推荐我们的可能性有多大？（0 = 完全不会，10 = 非常愿意）",
            "commentQuestion": "还有其他想告诉我们的吗？（选填）",
            "submit": "提交",
            "errorsHeading": "请检查您的回答：",
            "errorSatisfaction": "请选择满意程度（1 至 5）。",
            "errorRecommend": "请选择推荐意愿（0 至 10）。",
            "errorComment": "留言过长（最多 2000 字）。",
            "thanksHeading": "感谢您的反馈",
            "thanks": "感谢您的回答，这将帮助我们做得更好。",
            "thanksSorry": "感谢您的回答。很抱歉没能让您满意，酒店经理会重新跟进您的问题并与您联系。",
            "alreadyAnsweredHeading": "已提交",
            "alreadyAnswered": "此问卷已经提交过了，感谢您的反馈。",
            "earlierResolutionHeading": "此问卷针对的是之前的处理结果",
            "earlierResolution": "我们发送此链接后，您的投诉已重新处理并再次解决，此链接不再对应最新的处理结果。我们已经或即将向您发送新的问卷，请填写新的问卷。",
            "expiredHeading": "链接已过期",
            "expired": "此问卷链接已过期。如您仍有意见，请回复我们的消息或联系酒店。",
            "invalidHeading": "链接无效",
            "invalid": "无法识别此问卷链接，请使用我们发送给您的完整链接。",
            "closedHeading": "问卷已关闭",
            "closed": "此投诉目前不需要您的回访评价。如仍有问题，请联系酒店。",
            "disabled": "此处未开放问卷。",
            "unavailableHeading": "请稍后再试",
            "unavailable": "系统暂时无法接收您的回答，请过几分钟后重新打开链接。",
            "tooLargeHeading": "回答过长",
            "tooLarge": "请缩短留言后重新提交。",
        ]
    }

    static let html = """
        <!doctype html>
        <html lang="{{lang}}">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="robots" content="noindex">
        <title>{{title}}</title>
        <style>
          body { font-family: system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0; background: #f4f1ec; color: #222; }
          main { max-width: 34rem; margin: 0 auto; padding: 1.25rem; }
          h1 { font-size: 1.4rem; margin: 0.5rem 0 1rem; }
          .card { background: #fff; border-radius: 12px; padding: 1.25rem; box-shadow: 0 1px 4px rgba(0,0,0,.08); }
          fieldset { border: 0; padding: 0; margin: 0 0 1.25rem; }
          legend { font-weight: 600; margin-bottom: .5rem; }
          .choices { display: flex; flex-wrap: wrap; gap: .4rem; }
          .choices label { display: inline-flex; align-items: center; gap: .3rem; border: 1px solid #ccc; border-radius: 8px; padding: .45rem .6rem; min-width: 2.2rem; justify-content: center; }
          .stack label { display: flex; width: 100%; justify-content: flex-start; }
          textarea { width: 100%; box-sizing: border-box; min-height: 6rem; font: inherit; padding: .5rem; border-radius: 8px; border: 1px solid #ccc; }
          button { width: 100%; font: inherit; font-weight: 600; padding: .8rem; border: 0; border-radius: 10px; background: #1f5f8b; color: #fff; }
          .errors { background: #fdecea; border-radius: 8px; padding: .75rem 1rem; margin-bottom: 1rem; color: #8a1f11; }
          .reference { color: #666; font-size: .9rem; }
        </style>
        </head>
        <body>
        <main>
        {{#form}}
        <h1>{{title}}</h1>
        <div class="card">
        <p>{{text.intro}}</p>
        {{#reference}}<p class="reference">{{text.reference}}: {{reference}}</p>{{/reference}}
        {{#hasErrors}}<div class="errors" id="errors" role="alert"><strong>{{text.errorsHeading}}</strong><ul>{{#errors}}<li>{{.}}</li>{{/errors}}</ul></div>{{/hasErrors}}
        <form method="post" action="{{action}}" id="survey">
          <fieldset>
            <legend>{{text.satisfactionQuestion}}</legend>
            <div class="choices stack">
            {{#satisfaction}}<label><input type="radio" name="satisfaction" value="{{value}}" {{#checked}}checked{{/checked}}> {{value}} · {{label}}</label>{{/satisfaction}}
            </div>
          </fieldset>
          <fieldset>
            <legend>{{text.recommendQuestion}}</legend>
            <div class="choices">
            {{#recommend}}<label><input type="radio" name="recommend" value="{{value}}" {{#checked}}checked{{/checked}}> {{value}}</label>{{/recommend}}
            </div>
          </fieldset>
          <fieldset>
            <legend><label for="comment">{{text.commentQuestion}}</label></legend>
            <textarea id="comment" name="comment" maxlength="2000">{{comment}}</textarea>
          </fieldset>
          <button type="submit" id="submit">{{text.submit}}</button>
        </form>
        </div>
        {{/form}}
        {{^form}}
        <div class="card" id="outcome">
        <h1>{{heading}}</h1>
        <p>{{message}}</p>
        {{#reference}}<p class="reference">{{text.reference}}: {{reference}}</p>{{/reference}}
        </div>
        {{/form}}
        </main>
        </body>
        </html>

        """
}
