/// A command that failed while running (a key not found, a file it cannot read, an API's refusal): the
/// message alone and exit status 1. `ValidationError` is for bad arguments only — ArgumentParser exits
/// 64 (EX_USAGE) with the usage text for it, which tells a script its call was wrong when it was not.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
