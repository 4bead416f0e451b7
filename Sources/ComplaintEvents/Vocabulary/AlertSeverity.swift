/// How far a spike exceeds its baseline.
public enum AlertSeverity: String, EventEnum {
    case warning
    case critical
}
