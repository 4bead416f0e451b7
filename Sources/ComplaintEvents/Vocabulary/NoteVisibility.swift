/// Whether a note may be shown to the guest.
public enum NoteVisibility: String, EventEnum {
    case `internal`
    case guest
}
