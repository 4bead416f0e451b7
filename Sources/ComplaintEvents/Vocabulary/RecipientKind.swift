/// Who a notification was for.
public enum RecipientKind: String, EventEnum {
    case guest
    case staff
}
