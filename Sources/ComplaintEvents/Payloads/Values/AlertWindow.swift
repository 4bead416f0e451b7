import Foundation

/// The period an early-warning alert counted complaints in.
public struct AlertWindow: Codable, Hashable, Sendable {
    public var start: Date
    public var end: Date

    public init(start: Date, end: Date) {
        self.start = start
        self.end = end
    }
}
