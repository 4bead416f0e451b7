import ArgumentParser

/// `redress`: the operator and developer command line of Redress.
@main
struct RedressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redress",
        abstract: "Operate and develop Redress, the hotel complaint-handling backbone.",
        subcommands: [
            UpCommand.self, DemoCommand.self, BrokerCommand.self, MigrateCommand.self, APIKeyCommand.self, LoadgenCommand.self,
            ClassifierCommand.self, AssignmentCommand.self, SLACommand.self, NotifierCommand.self, MetricsCommand.self, TopicsCommand.self,
            TailCommand.self, ReplayCommand.self, DeadLetterCommand.self,
        ]
    )
}
