/// A step of the escalation chain on SLA breach; by default department head → duty manager → general manager.
public enum EscalationRole: String, EventEnum {
    case dutyManager = "duty_manager"
    case departmentHead = "department_head"
    case generalManager = "general_manager"
}
