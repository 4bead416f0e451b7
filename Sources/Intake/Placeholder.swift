/// Placeholder until the intake service lands.
enum IntakePlaceholder {}
