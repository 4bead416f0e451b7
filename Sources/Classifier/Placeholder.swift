/// Placeholder until the classifier service lands.
enum ClassifierPlaceholder {}
