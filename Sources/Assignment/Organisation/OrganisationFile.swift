import ComplaintPipeline
import Crypto
import Foundation

/// Reads `services/assignment/organisation.yaml`: decodes it, rejects unknown keys and every broken rule
/// with the line and field, and gives each hotel's section a digest so a restart can tell whether the
/// file changed for that hotel since it was last applied.
public enum OrganisationFile {
    /// The shipped file, relative to the Redress home.
    public static let defaultPath = "services/assignment/organisation.yaml"

    /// The keys each mapping of the file may have, by its path without indices.
    static let allowedKeys: [String: Set<String>] = [
        "": ["dispatcher", "hotels"],
        "dispatcher": ["url", "timeoutMs", "fallback"],
        "hotels": ["id", "name", "timeZone", "strategy", "escalation", "departments", "staff"],
        "hotels.departments": ["code", "name", "categories", "strategy"],
        "hotels.staff": ["id", "name", "role", "departments", "languages", "skills", "capacity", "active", "daysOff", "shifts"],
        "hotels.staff.shifts": ["days", "start", "end", "overnight"],
    ]

    /// Loads and checks the organisation in `file`.
    /// - Throws: A ``ComplaintPipeline/ConfigurationFileError`` naming the file, line and field of the first problem.
    public static func load(_ file: ConfigurationFile, strategies: Set<String>) throws(ConfigurationFileError) -> Organisation {
        if let unknown = file.unknownKeys(allowed: { allowedKeys[$0] }) { throw unknown }
        let organisation = try file.decode(Organisation.self)
        if let issue = OrganisationRules(strategies: strategies).check(organisation).first {
            throw file.error(at: issue.path.components, issue.rule)
        }
        return organisation
    }

    /// Loads and checks the organisation file at `path`.
    public static func load(contentsOf path: String, strategies: Set<String>) throws(ConfigurationFileError) -> Organisation {
        try load(try ConfigurationFile(contentsOf: path), strategies: strategies)
    }

    /// A digest of a hotel's section as loaded: equal digests mean the file did not change for that hotel.
    public static func digest(of hotel: HotelOrganisation) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(hotel)) ?? Data(hotel.id.utf8)
        return SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
