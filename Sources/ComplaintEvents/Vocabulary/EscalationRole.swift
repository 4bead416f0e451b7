/// The escalation chain on SLA breach: duty manager → department head → general manager.
public enum EscalationRole: String, EventEnum {
    case dutyManager = "duty_manager"
    case departmentHead = "department_head"
    case generalManager = "general_manager"
}
