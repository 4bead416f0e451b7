/// Who reported a complaint: the guest, a staff member on their behalf, or another system.
public enum ReporterKind: String, EventEnum {
    case guest
    case staff
    case system
}
