import Foundation

extension UUID {
    /// The canonical spelling used in subjects, keys and JSON.
    var lowercasedString: String { uuidString.lowercased() }
}
