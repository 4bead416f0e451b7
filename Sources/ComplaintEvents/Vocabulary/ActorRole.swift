/// The role in which someone acted on a complaint; managers approve compensation above staff authority.
public enum ActorRole: String, EventEnum {
    case staff
    /// A shift or team supervisor: takes VIP and serious complaints.
    case supervisor
    case dutyManager = "duty_manager"
    case departmentHead = "department_head"
    case generalManager = "general_manager"
    /// A Redress service acting on its own (automatic close, reopen after a poor follow-up).
    case system
    case guest
}
