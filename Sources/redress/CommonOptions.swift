import ArgumentParser
import Logging
import RdKafka

// The options several `redress` commands take with one meaning: each is declared, with its help and its
// fallbacks, once here, and a command places the group where the option stands in its help. Options of
// the same name that mean something else keep their own declaration: `redress up --data-dir` and
// `--brokers`, and `loadgen --brokers` (for --full-loop only). An option whose help differs by command
// (`--prefix`) takes its help from a type the command names.

/// `--data-dir`, so that every operator tool finds the `up.env` of `redress up` (its settings' last fallback) the same way.
struct DataDirectoryOption: ParsableArguments {
    @Option(help: "Where `redress up` keeps its state (its up.env gives the defaults).")
    var dataDir = ".redress"
}

/// `--database-url` of the services' PostgreSQL, so that every tool on it falls back alike: $DATABASE_URL, then `<data-dir>/up.env`.
struct DatabaseURLOption: ParsableArguments {
    @Option(help: "PostgreSQL URL (default: $DATABASE_URL, else <data-dir>/up.env).")
    var databaseURL: String?

    /// The URL; a `ValidationError` naming the three ways to give it when none does.
    func url(dataDir: String) throws -> String {
        try ProcessInfoEnvironment.setting(databaseURL, variable: "DATABASE_URL", option: "--database-url", dataDir: dataDir, what: "database")
    }
}

/// `--database-url` and `--data-dir`, for the tools that work on the services' PostgreSQL alone.
struct DatabaseOptions: ParsableArguments {
    @OptionGroup var database: DatabaseURLOption
    @OptionGroup var dataDirectory: DataDirectoryOption

    /// The PostgreSQL URL: the option, else $DATABASE_URL, else `<data-dir>/up.env`.
    func url() throws -> String { try database.url(dataDir: dataDirectory.dataDir) }
}

/// A benchmark's cluster and database: the stage under test needs topics of its own, which the embedded
/// broker of `redress up` cannot create for another process, so the bench runs an embedded cluster itself
/// unless `--brokers` names a real one; the database is that of `redress up`.
struct BenchTargetOptions: ParsableArguments {
    @Option(help: "Kafka bootstrap servers of a real cluster (default: an embedded cluster in this process, since the embedded broker of `redress up` cannot create topics for others).")
    var brokers: String?
    @OptionGroup var database: DatabaseOptions

    /// The bootstrap servers, and the embedded cluster serving them when no `--brokers` was given (the
    /// caller keeps it alive while it runs).
    func cluster(logger: Logger) throws -> (servers: [String], embedded: EmbeddedKafkaCluster?) {
        let embedded = try brokers == nil ? EmbeddedKafkaCluster(logger: logger) : nil
        return (brokers.map { KafkaBootstrap.servers(from: $0) } ?? [embedded!.bootstrapServers], embedded)
    }
}

/// `--brokers` of the cluster the services use, so that every tool on their topics falls back alike: $KAFKA_BROKERS, then `<data-dir>/up.env`.
struct KafkaBrokersOption: ParsableArguments {
    @Option(help: "Kafka bootstrap servers (default: $KAFKA_BROKERS, else <data-dir>/up.env).")
    var brokers: String?

    /// The servers as given (comma-separated); a `ValidationError` naming the three ways to give them when none does.
    func setting(dataDir: String) throws -> String {
        try ProcessInfoEnvironment.setting(brokers, variable: "KAFKA_BROKERS", option: "--brokers", dataDir: dataDir, what: "Kafka")
    }

    /// The bootstrap servers, one an element.
    func servers(dataDir: String) throws -> [String] { KafkaBootstrap.servers(from: try setting(dataDir: dataDir)) }
}

/// `--brokers` and `--data-dir`, for the tools that read or write the services' topics.
struct KafkaOptions: ParsableArguments {
    @OptionGroup var kafka: KafkaBrokersOption
    @OptionGroup var dataDirectory: DataDirectoryOption

    /// The servers as given (comma-separated): the option, else $KAFKA_BROKERS, else `<data-dir>/up.env`.
    func setting() throws -> String { try kafka.setting(dataDir: dataDirectory.dataDir) }

    /// The bootstrap servers, one an element.
    func servers() throws -> [String] { try kafka.servers(dataDir: dataDirectory.dataDir) }
}

/// What `--prefix` says in a command's help, so that each tool says what it does under the prefix while the option is declared once.
protocol TopicPrefixHelp {
    static var help: String { get }
}

/// `--prefix` (also `--topic-prefix`) of a tool on the services' topics, so that it uses them under the services' KAFKA_TOPIC_PREFIX; `Help` gives its help.
struct PrefixedTopicsOption<Help: TopicPrefixHelp>: ParsableArguments {
    @Option(name: [.customLong("prefix"), .customLong("topic-prefix")], help: ArgumentHelp(Help.help))
    var prefix: String?

    /// The prefix in effect: the option (`''` for none), else `KAFKA_TOPIC_PREFIX`, else none.
    var topicPrefix: String { ProcessInfoEnvironment.topicPrefix(prefix) }
}

/// `--prefix` of a tool that reads the services' topics (deadletter, sla backtest, replay, metrics rebuild).
typealias TopicPrefixOption = PrefixedTopicsOption<ReadsTopicsUnderPrefix>

/// The help of ``TopicPrefixOption``, so that the tools that read the topics say the same.
enum ReadsTopicsUnderPrefix: TopicPrefixHelp {
    static let help = "Read the topics under this prefix, as services started with the same KAFKA_TOPIC_PREFIX use them (default: $KAFKA_TOPIC_PREFIX; '' for none)."
}
