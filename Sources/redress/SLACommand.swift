import ArgumentParser
import ComplaintPipeline
import Foundation
import SLAWatcher

/// `redress sla …`: SLA tools for checking and support.
struct SLACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sla",
        abstract: "Compute SLA deadlines as the SLA watcher does; backtest a candidate policy on the recorded history; benchmark its timers.",
        subcommands: [Due.self, SLABench.self, SLABacktestCommand.self]
    )

    /// `redress sla due`: a deadline from a start, a business-time length, a calendar and a time zone.
    struct Due: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the due time (RFC 3339, UTC) of a clock started at --start.",
            discussion: """
                redress sla due --start 2026-11-24T17:30:00Z --business-minutes 120 --calendar office --timezone Asia/Shanghai
                redress sla due --start 2026-11-24T17:30:00Z --minutes 45
                """)

        @Option(help: "When the clock starts (RFC 3339).")
        var start: String

        @Option(help: "Business minutes on --calendar.")
        var businessMinutes: Int?

        @Option(help: "Minutes around the clock (the 24x7 calendar).")
        var minutes: Int?

        @Option(help: "A calendar of the policy file (default: 24x7).")
        var calendar = "24x7"

        @Option(help: "The IANA time zone the calendar is read in (default: UTC).")
        var timezone = "UTC"

        @Option(help: "Policy file (default: \(PolicyFile.defaultPath)).")
        var policy: String?

        func validate() throws {
            guard (businessMinutes == nil) != (minutes == nil) else {
                throw ValidationError("give exactly one of --business-minutes and --minutes")
            }
            if let length = businessMinutes ?? minutes, length < 0 { throw ValidationError("the length must not be negative") }
            if minutes != nil && calendar != "24x7" { throw ValidationError("--minutes counts around the clock; use --business-minutes with --calendar") }
        }

        func run() async throws {
            let startDate = try DateTimeOption.parse(start, option: "--start")
            guard let zone = TimeZone(identifier: timezone) else {
                throw ValidationError("--timezone '\(timezone)' is not an IANA time zone such as Asia/Shanghai")
            }
            var businessCalendar = BusinessCalendar.alwaysOpen
            if calendar != BusinessCalendar.alwaysOpen.name {
                let policies = try PolicyFile.load(contentsOf: policy ?? ServiceFiles.locate(PolicyFile.defaultPath))
                guard let found = policies.calendars[calendar] else {
                    throw ValidationError("no calendar '\(calendar)' in the policy file (it has: \(policies.calendars.keys.sorted().joined(separator: ", ")))")
                }
                businessCalendar = found
            }
            let length = TimeInterval((businessMinutes ?? minutes ?? 0) * 60)
            guard let due = businessCalendar.deadline(from: startDate, adding: length, in: zone) else {
                throw ValidationError("calendar '\(calendar)' is never open within ten years")
            }
            let formatter = ISO8601DateFormatter()
            formatter.timeZone = TimeZone(identifier: "UTC")
            print(formatter.string(from: due))
        }
    }
}
