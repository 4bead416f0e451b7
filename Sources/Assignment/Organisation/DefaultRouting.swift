import ComplaintEvents

/// The group's default departments and which categories each handles (services/assignment/README.md, Routing); a hotel's
/// department that lists no categories takes these.
public enum DefaultRouting {
    /// Department code → display name and categories, in the order of the README's list.
    public static let departments: [(code: String, name: String, categories: [ComplaintCategory])] = [
        ("housekeeping", "Housekeeping", [.cleanliness, .amenities]),
        ("engineering", "Engineering", [.maintenance]),
        ("front_office", "Front Office", [.noise, .frontDesk]),
        ("food_beverage", "Food & Beverage", [.foodBeverage]),
        ("finance", "Finance", [.billing]),
        ("human_resources", "Human Resources", [.staffBehavior]),
        ("security", "Security", [.safetySecurity]),
        ("it", "IT", [.connectivity]),
        ("guest_relations", "Guest Relations", [.other]),
    ]

    /// The default categories of department `code` (none for a code the defaults do not know).
    public static func categories(of code: String) -> [ComplaintCategory] {
        departments.first { $0.code == code }?.categories ?? []
    }

    /// The default display name of `code` (`front_office` → `Front Office`).
    public static func name(of code: String) -> String {
        departments.first { $0.code == code }?.name
            ?? code.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: " ")
    }
}
