/// What a complaint is about; each category routes to a default department (services/assignment/README.md).
public enum ComplaintCategory: String, EventEnum {
    /// Dirty room or bathroom, linens, pests, smell (Housekeeping).
    case cleanliness
    /// Anything broken or not working: air conditioning, plumbing, lock, TV, elevator (Engineering).
    case maintenance
    /// Neighbours, construction, street, music (Front Office / Security).
    case noise
    /// Restaurant, room service, breakfast, food quality or hygiene, bar (F&B).
    case foodBeverage = "food_beverage"
    /// Check-in/out, waiting, reservation errors, wrong room type, key cards (Front Office).
    case frontDesk = "front_desk"
    /// Overcharge, deposit, refund, invoice (发票), payment (Finance).
    case billing
    /// Rudeness, attitude, unprofessional conduct (Duty manager / HR).
    case staffBehavior = "staff_behavior"
    /// Theft, injury, fire, harassment, suspicious people, medical (Security).
    case safetySecurity = "safety_security"
    /// Wi-Fi, internet, phone line (IT).
    case connectivity
    /// Missing towels, toiletries, pillows, minibar; pool, gym, spa or parking closed (Housekeeping / Rooms).
    case amenities
    /// Anything else (Guest Relations).
    case other
}
