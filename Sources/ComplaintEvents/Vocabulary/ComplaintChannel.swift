/// Where a complaint came in.
public enum ComplaintChannel: String, EventEnum {
    case frontDesk = "front_desk"
    case phone
    case app
    case wechat
    case email
    case reviewSite = "review_site"
    case pms
    case other
}
