import ComplaintEvents
import EventTail
import RdKafka
import Testing

/// The topics `redress topics` and `redress up --external` create. Before, the dead-letter topic had
/// every topic's 7 days, so bad input nobody had looked at within a week was gone.
@Suite("Redress topic specifications")
struct TopicSpecificationsTests {
    @Test("the dead-letter topic keeps its records --dead-letter-retention-days (90 by default), every other topic --retention-days")
    func deadLettersKeptLonger() throws {
        let specifications = RedressTopicSpecifications.specifications(
            prefix: "staging.", partitions: 6, replicationFactor: 3, retentionDays: 7,
            deadLetterRetentionDays: RedressTopicSpecifications.defaultDeadLetterRetentionDays)
        #expect(specifications.map(\.name) == Topics.all.map { "staging." + $0.name })
        let deadLetters = try #require(specifications.first { $0.name == "staging." + Topics.deadLetter.name })
        #expect(deadLetters.configuration["retention.ms"] == "\(90 * 86_400_000)")
        for specification in specifications where specification.name != deadLetters.name {
            #expect(specification.configuration["retention.ms"] == "\(7 * 86_400_000)", "\(specification.name)")
        }
        for specification in specifications {
            #expect(specification.configuration["segment.ms"] == "86400000", "\(specification.name)")
            #expect(specification.partitions == 6 && specification.replicationFactor == 3, "\(specification.name)")
        }
        let longer = RedressTopicSpecifications.specifications(prefix: "", partitions: 1, replicationFactor: 1, retentionDays: 3, deadLetterRetentionDays: 365)
        #expect(longer.first { $0.name == Topics.deadLetter.name }?.configuration["retention.ms"] == "\(365 * 86_400_000)")
    }
}
