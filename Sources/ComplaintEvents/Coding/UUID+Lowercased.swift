import Foundation

extension UUID {
    /// The canonical spelling used in subjects, keys and JSON.
    public var lowercasedString: String { uuidString.lowercased() }
}
