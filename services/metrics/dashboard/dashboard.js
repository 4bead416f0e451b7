/*
 * Redress: the hotel manager's live dashboard for the metrics service.
 *
 * Plain JavaScript, no build step, no libraries: served by the metrics service with a strict
 * Content-Security-Policy (no inline script or style, no eval), so everything is built with DOM and
 * SVG APIs and styled through classes in dashboard.css.
 *
 * It reads the same API as everyone else with an API key (`Authorization: Bearer rdk_…`), kept in
 * sessionStorage, and follows `/v1/live` (server-sent events) through fetch(), because EventSource
 * cannot send the Authorization header.
 *
 * Hooks for tests: body[data-loaded="true"] after the first full load, body[data-refreshes] counts
 * completed refreshes (the first load is refresh 1), body[data-stream-idle-limit] is how long (ms) a
 * silent stream is waited for, from the service's heartbeat, #live-status[data-state] is "live" or "offline",
 * [data-kpi] tiles hold a .value with data-raw (the API's number, empty when null).
 */
(function () {
  "use strict";

  var KEY_STORAGE = "redress.apiKey";
  var LANG_STORAGE = "redress.lang";
  var FEED_LIMIT = 50;
  var REFRESH_DEBOUNCE_MS = 300;
  // Under a steady stream of events the debounce would put the refresh off for ever: at the latest this
  // long after the first event of a burst.
  var REFRESH_MAX_WAIT_MS = 5000;
  var QUALITY_MAX_AGE_MS = 10 * 60 * 1000;
  var POLL_WHILE_OFFLINE_MS = 60 * 1000;
  // A silent stream is taken for dead after three heartbeats: the service says its interval in its first
  // comment (": connected heartbeat=15"); 15 s until it does.
  var STREAM_IDLE_LIMIT_MS = 45 * 1000;
  var SVG_NS = "http://www.w3.org/2000/svg";

  // ---------------------------------------------------------------------------------------------
  // Words

  var DICT = {
    "zh-CN": {
      appTitle: "投诉看板",
      skipToContent: "跳到正文",
      hotel: "酒店",
      signInTitle: "登录",
      signInHelp: "请输入经理或管理员的 API 密钥（rdk_…）。密钥只保存在当前浏览器标签页中。",
      apiKey: "API 密钥",
      signIn: "登录",
      signOut: "退出登录",
      switchLanguage: "Switch to English",
      langToggle: "English",
      live: "实时",
      offline: "离线",
      connecting: "连接中…",
      reconnecting: "离线，稍后重连",
      retryIn: function (s) { return "（" + s + " 秒）"; },
      kpiHeading: "近 30 天关键指标",
      trendHeading: "每日投诉量与按时受理率",
      alertsHeading: "预警",
      openHeading: "未结投诉",
      openCaption: "未结投诉，按最近时限排序",
      liveHeading: "实时动态",
      liveEmpty: "等待新的动态…",
      qualityHeading: "服务质量指数",
      causesHeading: "主要根因",
      lastUpdated: "最近更新",
      colSeverity: "严重度",
      colCategory: "类别",
      colStatus: "状态",
      colVip: "VIP",
      colLevel: "升级",
      colRegistered: "登记",
      colDeadline: "时限",
      kpi: {
        volume: "投诉量",
        open: "当前未结",
        "ack-median": "受理时长中位数",
        "resolve-median": "解决时长中位数",
        "ack-compliance": "按时受理率",
        "resolve-compliance": "按时解决率",
        fcr: "首次接触解决率",
        repeat: "重复投诉率",
        reopen: "重开率",
        satisfaction: "宾客满意度",
        nps: "净推荐值",
        escalations: "已升级投诉",
        breaches: "超时次数",
        compensation: "本月补偿"
      },
      days: function (n) { return n + " 天"; },
      ofTotal: function (a, b) { return a + " / " + b; },
      metBreached: function (m, b) { return "达标 " + m + " · 超时 " + b; },
      p90: function (d, n) { return "P90 " + d + " · " + n + " 件"; },
      responses: function (n) { return n + " 份答卷"; },
      outOf5: function (n) { return "满分 5 · " + n + " 份答卷"; },
      levels: function (l2, l3) { return "二级 " + l2 + " · 三级 " + l3; },
      breachSplit: function (a, r) { return "受理 " + a + " · 解决 " + r; },
      budgetOf: function (budget, used) { return "预算 " + budget + " · 已用 " + used; },
      approvedInRange: function (amounts) { return "近 30 天已批准 " + amounts; },
      noBudget: "未设预算",
      noCompensation: "近 30 天无补偿",
      bySeverity: "按严重度",
      byStatus: "按状态",
      totalOpen: function (n) { return "共 " + n + " 件"; },
      firstOfTotal: function (n, total) { return "表中为截止时间最近的 " + n + " 件，共 " + total + " 件未结"; },
      noOpen: "当前没有未结投诉",
      unrated: "未定级",
      unclassified: "待分类",
      vip: "VIP",
      level: function (n) { return n + " 级"; },
      ago: function (d) { return d + "前"; },
      overdue: function (d) { return "超时 " + d; },
      noDeadline: "无时限",
      target: { acknowledge: "受理", resolve: "解决", followup: "回访", ceiling: "上限" },
      chartVolume: "投诉量",
      chartCompliance: "按时受理率",
      chartEmpty: "近 30 天没有投诉",
      chartTitle: function (day, v, c) { return day + "：投诉 " + v + " 件，按时受理率 " + c; },
      noAlerts: "当前没有预警",
      observedBaseline: function (o, b) { return "观测 " + o + " · 基线 " + b; },
      spendBudget: function (s, b) { return "已批准 " + s + " / 预算 " + b; },
      metDecided: function (m, d, r) { return "达标 " + m + " / " + d + "（" + r + "）"; },
      window: function (a, b) { return "窗口 " + a + "–" + b; },
      since: function (t, ago) { return "自 " + t + " 起（" + ago + "）"; },
      pValue: "p 值",
      qualityOf: "/ 100",
      qualityMeta: function (month, n) { return month + " · " + n + " 件投诉"; },
      weight: function (w) { return "权重 " + w; },
      noQuality: "暂无质量指数",
      noCauses: "暂无根因记录",
      noHotels: "此密钥没有可查看的酒店。",
      hotelFallback: function (id) { return "无法查看酒店 " + id + "，已显示第一家酒店。"; },
      emptyKey: "请输入 API 密钥。",
      networkError: "无法连接服务",
      authError: "身份验证失败",
      unit: { s: "秒", min: "分钟", h: "小时", d: "天", cdMin: "分", cdSec: "秒" },
      categories: {
        cleanliness: "清洁卫生", maintenance: "设施维修", noise: "噪音", food_beverage: "餐饮", front_desk: "前台服务",
        billing: "账单", staff_behavior: "员工态度", safety_security: "安全保卫", connectivity: "网络通讯",
        amenities: "客房用品", other: "其他"
      },
      statuses: {
        registered: "已登记", assigned: "已分派", acknowledged: "已受理", waiting_for_guest: "等待客人",
        resolved: "已解决", reopened: "已重开", closed: "已关闭"
      },
      severities: { serious: "严重", moderate: "一般", minor: "轻微" },
      alertKinds: { category_spike: "类别激增", compensation_budget: "补偿超预算", sla_compliance: "时限达标率偏低" },
      alertSeverities: { warning: "警告", critical: "紧急" },
      alertCleared: "已解除",
      slaSubjects: { acknowledge: "受理时限", resolve: "解决时限" },
      dimensions: { tangibles: "有形性", reliability: "可靠性", responsiveness: "响应性", assurance: "保证性", empathy: "移情性" },
      topics: { received: "新投诉", classified: "已分类", assigned: "已分派", updated: "处理更新", sla: "时限", alert: "预警" },
      channels: {
        front_desk: "前台", phone: "电话", app: "App", wechat: "微信", email: "邮件", review_site: "点评网站", pms: "PMS", other: "其他"
      },
      reasons: { initial: "首次分派", escalation: "升级分派", manual: "手动分派", department_changed: "转部门" },
      updateKinds: {
        acknowledged: "已受理", note_added: "添加备注", resolved: "已解决", reopened: "已重开",
        compensation_requested: "申请补偿", compensation_approved: "补偿已批准", compensation_rejected: "补偿被拒",
        followup_recorded: "已回访", closed: "已关闭", waiting_for_guest: "等待客人", resumed: "恢复处理"
      },
      slaKinds: {
        timer_started: "开始计时", warning: "即将超时", breached: "已超时", escalated: "已升级", met: "按时完成",
        followup_due: "待回访", paused: "暂停计时", resumed: "恢复计时", ceiling_reached: "已达最高升级", rescheduled: "时限已调整"
      },
      escalatedTo: function (n) { return "升至 " + n + " 级"; }
    },
    en: {
      appTitle: "Complaints dashboard",
      skipToContent: "Skip to content",
      hotel: "Hotel",
      signInTitle: "Sign in",
      signInHelp: "Enter a manager or admin API key (rdk_…). It is kept only in this browser tab.",
      apiKey: "API key",
      signIn: "Sign in",
      signOut: "Sign out",
      switchLanguage: "切换到中文",
      langToggle: "中文",
      live: "Live",
      offline: "Offline",
      connecting: "Connecting…",
      reconnecting: "Offline, retrying",
      retryIn: function (s) { return " in " + s + " s"; },
      kpiHeading: "Key figures, last 30 days",
      trendHeading: "Daily complaints and on-time acknowledgement",
      alertsHeading: "Early warnings",
      openHeading: "Open complaints",
      openCaption: "Open complaints, nearest deadline first",
      liveHeading: "Live activity",
      liveEmpty: "Waiting for activity…",
      qualityHeading: "Service quality index",
      causesHeading: "Top root causes",
      lastUpdated: "Last updated",
      colSeverity: "Severity",
      colCategory: "Category",
      colStatus: "Status",
      colVip: "VIP",
      colLevel: "Escalation",
      colRegistered: "Registered",
      colDeadline: "Deadline",
      kpi: {
        volume: "Complaints",
        open: "Open now",
        "ack-median": "Median time to acknowledge",
        "resolve-median": "Median time to resolve",
        "ack-compliance": "Acknowledged on time",
        "resolve-compliance": "Resolved on time",
        fcr: "First-contact resolution",
        repeat: "Repeat complaints",
        reopen: "Reopened",
        satisfaction: "Guest satisfaction",
        nps: "Net promoter score",
        escalations: "Escalated complaints",
        breaches: "Deadline breaches",
        compensation: "Compensation this month"
      },
      days: function (n) { return n + " days"; },
      ofTotal: function (a, b) { return a + " of " + b; },
      metBreached: function (m, b) { return m + " met · " + b + " breached"; },
      p90: function (d, n) { return "P90 " + d + " · n=" + n; },
      responses: function (n) { return n + (n === "1" ? " response" : " responses"); },
      outOf5: function (n) { return "out of 5 · " + n + (n === "1" ? " response" : " responses"); },
      levels: function (l2, l3) { return "level 2: " + l2 + " · level 3: " + l3; },
      breachSplit: function (a, r) { return "acknowledge " + a + " · resolve " + r; },
      budgetOf: function (budget, used) { return "of " + budget + " · " + used + " used"; },
      approvedInRange: function (amounts) { return "approved in 30 days: " + amounts; },
      noBudget: "no budget set",
      noCompensation: "none in 30 days",
      bySeverity: "By severity",
      byStatus: "By status",
      totalOpen: function (n) { return n + " open"; },
      firstOfTotal: function (n, total) { return "The " + n + " nearest deadlines of " + total + " open complaints"; },
      noOpen: "No open complaints",
      unrated: "Unrated",
      unclassified: "Unclassified",
      vip: "VIP",
      level: function (n) { return "L" + n; },
      ago: function (d) { return d + " ago"; },
      overdue: function (d) { return "overdue " + d; },
      noDeadline: "no deadline",
      target: { acknowledge: "ack.", resolve: "resolve", followup: "follow-up", ceiling: "ceiling" },
      chartVolume: "Complaints",
      chartCompliance: "Acknowledged on time",
      chartEmpty: "No complaints in the last 30 days",
      chartTitle: function (day, v, c) { return day + ": " + v + " complaints, " + c + " acknowledged on time"; },
      noAlerts: "No active alerts",
      observedBaseline: function (o, b) { return "observed " + o + " · baseline " + b; },
      spendBudget: function (s, b) { return "approved " + s + " of " + b + " budget"; },
      metDecided: function (m, d, r) { return m + " of " + d + " deadlines met (" + r + ")"; },
      window: function (a, b) { return "window " + a + "–" + b; },
      since: function (t, ago) { return "since " + t + " (" + ago + ")"; },
      pValue: "p-value",
      qualityOf: "/ 100",
      qualityMeta: function (month, n) { return month + " · " + n + " complaints"; },
      weight: function (w) { return "weight " + w; },
      noQuality: "No quality index yet",
      noCauses: "No root causes recorded yet",
      noHotels: "This key cannot see any hotel.",
      hotelFallback: function (id) { return "Hotel " + id + " is not available to this key; showing the first hotel."; },
      emptyKey: "Please enter an API key.",
      networkError: "Cannot reach the service",
      authError: "Not signed in",
      unit: { s: "s", min: "min", h: "h", d: "d", cdMin: "min", cdSec: "s" },
      categories: {
        cleanliness: "Cleanliness", maintenance: "Maintenance", noise: "Noise", food_beverage: "Food & beverage",
        front_desk: "Front desk", billing: "Billing", staff_behavior: "Staff behaviour", safety_security: "Safety & security",
        connectivity: "Connectivity", amenities: "Amenities", other: "Other"
      },
      statuses: {
        registered: "Registered", assigned: "Assigned", acknowledged: "Acknowledged", waiting_for_guest: "Waiting for guest",
        resolved: "Resolved", reopened: "Reopened", closed: "Closed"
      },
      severities: { serious: "Serious", moderate: "Moderate", minor: "Minor" },
      alertKinds: { category_spike: "Complaint spike", compensation_budget: "Over budget", sla_compliance: "SLA compliance low" },
      alertSeverities: { warning: "Warning", critical: "Critical" },
      alertCleared: "cleared",
      slaSubjects: { acknowledge: "Acknowledge deadlines", resolve: "Resolve deadlines" },
      dimensions: { tangibles: "Tangibles", reliability: "Reliability", responsiveness: "Responsiveness", assurance: "Assurance", empathy: "Empathy" },
      topics: { received: "New complaint", classified: "Classified", assigned: "Assigned", updated: "Updated", sla: "SLA", alert: "Alert" },
      channels: {
        front_desk: "front desk", phone: "phone", app: "app", wechat: "WeChat", email: "email", review_site: "review site", pms: "PMS", other: "other"
      },
      reasons: { initial: "initial assignment", escalation: "escalation", manual: "reassigned", department_changed: "moved to another department" },
      updateKinds: {
        acknowledged: "acknowledged", note_added: "note added", resolved: "resolved", reopened: "reopened",
        compensation_requested: "compensation requested", compensation_approved: "compensation approved",
        compensation_rejected: "compensation rejected", followup_recorded: "follow-up recorded", closed: "closed",
        waiting_for_guest: "waiting for guest", resumed: "resumed"
      },
      slaKinds: {
        timer_started: "timer started", warning: "deadline near", breached: "deadline breached", escalated: "escalated", met: "met on time",
        followup_due: "follow-up due", paused: "paused", resumed: "resumed", ceiling_reached: "top escalation reached", rescheduled: "rescheduled"
      },
      escalatedTo: function (n) { return "to level " + n; }
    }
  };

  var CATEGORY_ORDER = ["cleanliness", "maintenance", "noise", "food_beverage", "front_desk", "billing", "staff_behavior",
    "safety_security", "connectivity", "amenities", "other"];
  var SEVERITY_ORDER = ["serious", "moderate", "minor"];
  var STATUS_ORDER = ["registered", "assigned", "acknowledged", "waiting_for_guest", "reopened", "resolved", "closed"];
  var DIMENSION_ORDER = ["tangibles", "reliability", "responsiveness", "assurance", "empathy"];
  var HIGHLIGHT_SLA = { breached: "critical", escalated: "critical", ceiling_reached: "critical", warning: "warning" };

  // ---------------------------------------------------------------------------------------------
  // State

  var query = new URLSearchParams(location.search);
  var state = {
    key: null,
    lang: "en",
    hotels: [],
    hotel: null,
    kpis: null,
    open: null,
    alerts: null,
    quality: null,
    qualityAt: 0,
    feed: [],
    loaded: false,
    refreshes: 0,
    generation: 0,
    refreshing: false,
    refreshPending: false,
    refreshTimer: null,
    refreshDueBy: 0,
    startAttempt: 0,
    startTimer: null,
    refreshPendingFull: false,
    lastRefreshAt: 0,
    skewMs: 0, // server clock − browser clock, from /v1/open's "at"
    notice: null,
    live: { controller: null, attempt: 0, timer: null, lastActivity: 0, retryAt: 0, connected: false, lastError: null, idleLimitMs: STREAM_IDLE_LIMIT_MS }
  };

  // ---------------------------------------------------------------------------------------------
  // Small helpers

  function $(id) { return document.getElementById(id); }

  function t(key) {
    var table = DICT[state.lang] || DICT.en;
    var value = table[key];
    if (value === undefined) value = DICT.en[key];
    if (typeof value === "function") return value.apply(null, Array.prototype.slice.call(arguments, 1));
    return value === undefined ? key : value;
  }

  function tr(group, code, fallback) {
    if (code === null || code === undefined || code === "") return fallback === undefined ? "—" : fallback;
    var table = (DICT[state.lang] || DICT.en)[group] || {};
    if (Object.prototype.hasOwnProperty.call(table, code)) return table[code];
    return humanize(code);
  }

  function humanize(code) { return String(code).replace(/_/g, " "); }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      node.setAttribute(name, value === true ? "" : String(value));
    });
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  function raw(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number" && !isFinite(value)) return "";
    return String(value);
  }

  function isNum(value) { return typeof value === "number" && isFinite(value); }

  function locale() { return state.lang === "zh-CN" ? "zh-CN" : "en"; }

  function hotelZone() {
    var zone = state.hotel && state.hotel.timeZone;
    if (!zone) return undefined;
    try { new Intl.DateTimeFormat("en-US", { timeZone: zone }); return zone; } catch (e) { return undefined; }
  }

  function now() { return new Date(Date.now() + state.skewMs); }

  // ---------------------------------------------------------------------------------------------
  // Formatting

  function fmtInt(value) {
    if (!isNum(value)) return "—";
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: 0 }).format(value);
  }

  function fmtNumber(value, digits) {
    if (!isNum(value)) return "—";
    return new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
  }

  function fmtPlain(value) {
    if (!isNum(value)) return "—";
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: 2 }).format(value);
  }

  function fmtPercent(fraction) {
    if (!isNum(fraction)) return "—";
    return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(fraction);
  }

  function fmtSigned(value) {
    if (!isNum(value)) return "—";
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: 0, signDisplay: "exceptZero" }).format(value);
  }

  function fmtMoney(minor, currency) {
    if (!isNum(minor)) return "—";
    try {
      var format = new Intl.NumberFormat(locale(), { style: "currency", currency: currency });
      var digits = format.resolvedOptions().maximumFractionDigits;
      return format.format(minor / Math.pow(10, digits === undefined ? 2 : digits));
    } catch (e) {
      return (currency || "") + " " + fmtNumber(minor / 100, 2);
    }
  }

  /** A duration as [number, unit] pairs: 420 → [[7, min]], 5400 → [[1, h], [30, min]], 200000 → [[2, d], [7, h]]. */
  function durationParts(seconds) {
    var u = t("unit");
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return [[s, u.s]];
    var minutes = Math.round(s / 60);
    if (minutes < 60) return [[minutes, u.min]];
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var mins = minutes % 60;
    if (days > 0) return hours ? [[days, u.d], [hours, u.h]] : [[days, u.d]];
    return mins ? [[hours, u.h], [mins, u.min]] : [[hours, u.h]];
  }

  /** 420 → "7 min", 5400 → "1 h 30 min", 200000 → "2 d 7 h"; "—" when unknown. */
  function fmtDuration(seconds) {
    if (!isNum(seconds)) return "—";
    return durationParts(seconds).map(function (p) { return fmtInt(p[0]) + " " + p[1]; }).join(" ");
  }

  /** The same text as fmtDuration, with the units in smaller type (for the big tile numbers). */
  function durationNodes(seconds) {
    if (!isNum(seconds)) return "—";
    var nodes = [];
    durationParts(seconds).forEach(function (p, i) {
      if (i) nodes.push(" ");
      nodes.push(fmtInt(p[0]), " ", el("span", { class: "unit" }, p[1]));
    });
    return nodes;
  }

  /** A countdown to the second: "45 s", "5 min 07 s", "2 h 05 min", "3 d 4 h". */
  function fmtCountdown(seconds) {
    var u = t("unit");
    var s = Math.floor(Math.abs(seconds));
    var pad = function (x) { return x < 10 ? "0" + x : String(x); };
    if (s < 60) return s + " " + u.cdSec;
    if (s < 3600) return Math.floor(s / 60) + " " + u.cdMin + " " + pad(s % 60) + " " + u.cdSec;
    if (s < 86400) return Math.floor(s / 3600) + " " + u.h + " " + pad(Math.floor((s % 3600) / 60)) + " " + u.cdMin;
    var days = Math.floor(s / 86400);
    var hours = Math.floor((s % 86400) / 3600);
    return days + " " + u.d + (hours ? " " + hours + " " + u.h : "");
  }

  function parseDate(iso) {
    if (!iso) return null;
    var ms = Date.parse(iso);
    return isNaN(ms) ? null : new Date(ms);
  }

  function fmtTime(date, withSeconds) {
    if (!date) return "—";
    var options = { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: hotelZone() };
    if (withSeconds) options.second = "2-digit";
    return new Intl.DateTimeFormat(locale(), options).format(date);
  }

  function fmtDateTime(date) {
    if (!date) return "—";
    var today = localDate(hotelZone(), now());
    var sameDay = localDate(hotelZone(), date) === today;
    if (sameDay) return fmtTime(date, false);
    return new Intl.DateTimeFormat(locale(), {
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false, timeZone: hotelZone()
    }).format(date);
  }

  function fmtClock(date) {
    return new Intl.DateTimeFormat(locale(), {
      weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
      hour12: false, timeZone: hotelZone()
    }).format(date);
  }

  /** The calendar date (YYYY-MM-DD) in `timeZone` at `date`. */
  function localDate(timeZone, date) {
    var parts;
    try {
      parts = new Intl.DateTimeFormat("en-US", { timeZone: timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
        .formatToParts(date || new Date());
    } catch (e) {
      parts = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(date || new Date());
    }
    var get = function (type) { var p = parts.find(function (x) { return x.type === type; }); return p ? p.value : ""; };
    return get("year") + "-" + get("month") + "-" + get("day");
  }

  function addDays(day, count) {
    var p = day.split("-").map(Number);
    return new Date(Date.UTC(p[0], p[1] - 1, p[2] + count)).toISOString().slice(0, 10);
  }

  function dayList(from, to) {
    var days = [];
    if (!/^\d{4}-\d{2}-\d{2}$/.test(from || "") || !/^\d{4}-\d{2}-\d{2}$/.test(to || "")) return days;
    for (var d = from; d <= to && days.length < 400; d = addDays(d, 1)) days.push(d);
    return days;
  }

  // ---------------------------------------------------------------------------------------------
  // API

  function ApiError(status, title, detail) {
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.message = title + (detail ? ": " + detail : "");
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;

  function apiUrl(path, params) {
    var url = new URL(path, document.baseURI);
    Object.keys(params || {}).forEach(function (name) {
      if (params[name] !== undefined && params[name] !== null) url.searchParams.set(name, params[name]);
    });
    return url.toString();
  }

  function authHeaders(accept) {
    return { "Authorization": "Bearer " + state.key, "Accept": accept };
  }

  async function problemFrom(response) {
    var title = response.status + " " + (response.statusText || "");
    var detail = "";
    try {
      var type = response.headers.get("content-type") || "";
      if (type.indexOf("json") >= 0) {
        var body = await response.json();
        if (body && body.title) title = body.title;
        if (body && body.detail) detail = body.detail;
        if (body && Array.isArray(body.errors) && body.errors.length) {
          detail += (detail ? " — " : "") + body.errors.map(function (e) { return e.field + ": " + e.rule; }).join("; ");
        }
      } else {
        detail = (await response.text()).slice(0, 300);
      }
    } catch (e) { /* keep the status line */ }
    return new ApiError(response.status, title.trim(), detail);
  }

  async function api(path, params) {
    var response;
    try {
      response = await fetch(apiUrl(path, params), { headers: authHeaders("application/json"), cache: "no-store" });
    } catch (error) {
      throw new ApiError(0, t("networkError"), String(error && error.message || error));
    }
    if (!response.ok) throw await problemFrom(response);
    return response.json();
  }

  function isAuthFailure(error) { return error && (error.status === 401 || error.status === 403); }

  // ---------------------------------------------------------------------------------------------
  // Language

  function normalizeLang(value) { return /^zh/i.test(value || "") ? "zh-CN" : "en"; }

  function initialLang() {
    if (query.get("lang")) return normalizeLang(query.get("lang"));
    var stored = null;
    try { stored = sessionStorage.getItem(LANG_STORAGE); } catch (e) { /* storage blocked */ }
    if (stored) return normalizeLang(stored);
    return normalizeLang(navigator.language || (navigator.languages && navigator.languages[0]) || "en");
  }

  function applyStaticTexts() {
    document.documentElement.lang = state.lang;
    document.querySelectorAll("[data-i18n]").forEach(function (node) { node.textContent = t(node.getAttribute("data-i18n")); });
    var toggle = $("lang-toggle");
    toggle.textContent = t("langToggle");
    toggle.setAttribute("aria-label", t("switchLanguage"));
    toggle.setAttribute("lang", state.lang === "zh-CN" ? "en" : "zh-CN");
    $("api-key").setAttribute("aria-label", t("apiKey"));
    updateTitle();
    renderLiveStatus();
  }

  function updateTitle() {
    var name = state.hotel ? state.hotel.name || state.hotel.id : null;
    document.title = name ? name + " · " + t("appTitle") : "Redress · " + t("appTitle");
    $("hotel-name").textContent = name || "Redress";
  }

  function toggleLanguage() {
    state.lang = state.lang === "zh-CN" ? "en" : "zh-CN";
    try { sessionStorage.setItem(LANG_STORAGE, state.lang); } catch (e) { /* ignore */ }
    query.set("lang", state.lang);
    replaceUrl();
    applyStaticTexts();
    renderHotelPicker();
    renderAll();
    relabelFeed();
  }

  function replaceUrl() {
    var search = query.toString();
    history.replaceState(history.state, "", location.pathname + (search ? "?" + search : ""));
  }

  // ---------------------------------------------------------------------------------------------
  // Errors and notices

  function showError(error) {
    var box = $("error");
    var title = error && error.title ? error.title : String(error && error.message || error);
    var detail = error && error.detail ? error.detail : "";
    box.querySelector(".error-title").textContent = title;
    box.querySelector(".error-detail").textContent = detail;
    box.dataset.status = error && error.status !== undefined ? String(error.status) : "";
    box.dataset.kind = "error";
    box.hidden = false;
  }

  function showNotice(text) {
    var box = $("error");
    box.querySelector(".error-title").textContent = text;
    box.querySelector(".error-detail").textContent = "";
    box.dataset.status = "";
    box.dataset.kind = "notice";
    box.hidden = false;
  }

  function clearError() {
    var box = $("error");
    if (state.notice) { showNotice(state.notice); return; }
    box.hidden = true;
    box.querySelector(".error-title").textContent = "";
    box.querySelector(".error-detail").textContent = "";
    box.dataset.status = "";
  }

  function handleError(error) {
    if (isAuthFailure(error)) {
      showError(error);
      signOut(true);
      return;
    }
    showError(error);
  }

  // ---------------------------------------------------------------------------------------------
  // Sign-in

  function readKeyFromFragment() {
    var hash = location.hash ? location.hash.slice(1) : "";
    if (!hash) return null;
    var fragment = new URLSearchParams(hash);
    var key = fragment.get("key");
    if (key === null) return null;
    // Never leave the key in the address bar or the history.
    history.replaceState(history.state, "", location.pathname + location.search);
    return key.trim() || null;
  }

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORAGE); } catch (e) { return null; }
  }

  function storeKey(key) {
    state.key = key;
    try { sessionStorage.setItem(KEY_STORAGE, key); } catch (e) { /* kept in memory only */ }
  }

  function showSignIn() {
    $("signin").hidden = false;
    $("dashboard").hidden = true;
    $("sign-out").hidden = true;
    $("hotel-picker").hidden = true;
    var input = $("api-key");
    input.value = "";
    input.focus();
  }

  function showDashboard() {
    $("signin").hidden = true;
    $("dashboard").hidden = false;
    $("sign-out").hidden = false;
  }

  function signOut(keepError) {
    state.generation++;
    stopLive();
    clearTimeout(state.refreshTimer);
    state.key = null;
    try { sessionStorage.removeItem(KEY_STORAGE); } catch (e) { /* ignore */ }
    state.hotels = [];
    state.hotel = null;
    state.kpis = state.open = state.alerts = state.quality = null;
    state.feed = [];
    state.notice = null;
    state.loaded = false;
    delete document.body.dataset.loaded;
    if (!keepError) clearError();
    $("hotel-clock").textContent = "";
    $("last-updated").textContent = "—";
    $("last-updated").removeAttribute("datetime");
    renderAll();
    updateTitle();
    showSignIn();
  }

  function onSignIn(event) {
    event.preventDefault();
    var key = $("api-key").value.trim();
    if (!key) { showError({ title: t("emptyKey") }); return; }
    storeKey(key);
    state.notice = null;
    clearError();
    start();
  }

  // ---------------------------------------------------------------------------------------------
  // Loading

  async function start() {
    var generation = ++state.generation;
    clearTimeout(state.startTimer);
    state.startTimer = null;
    showDashboard();
    stopLive();
    try {
      var answer = await api("v1/hotels");
      if (generation !== state.generation) return;
      state.hotels = (answer && answer.hotels) || [];
      if (!state.hotels.length) { showError({ title: t("noHotels") }); return; }
      var wanted = query.get("hotel");
      var hotel = wanted ? state.hotels.find(function (h) { return h.id === wanted; }) : null;
      state.notice = wanted && !hotel ? t("hotelFallback", wanted) : null;
      selectHotel(hotel || state.hotels[0]);
      renderHotelPicker();
      state.startAttempt = 0;
      await refresh(true);
      if (generation !== state.generation) return;
      startLive(false);
    } catch (error) {
      if (generation !== state.generation) return;
      handleError(error);
      // The service restarting, a deploy, a 503 while migrations run: a wall display must come back by
      // itself, so try again with the live stream's backoff (a refused key signs out instead).
      if (!isAuthFailure(error) && state.key) {
        var delay = Math.min(30000, 1000 * Math.pow(2, state.startAttempt)) + Math.floor(Math.random() * 500);
        state.startAttempt = Math.min(state.startAttempt + 1, 5);
        state.startTimer = setTimeout(function () { if (state.key && generation === state.generation) start(); }, delay);
      }
    }
  }

  function selectHotel(hotel) {
    state.hotel = hotel;
    state.kpis = state.open = state.alerts = state.quality = null;
    state.qualityAt = 0;
    state.feed = [];
    query.set("hotel", hotel.id);
    replaceUrl();
    updateTitle();
    renderFeed();
  }

  function onHotelChange() {
    var id = $("hotel").value;
    var hotel = state.hotels.find(function (h) { return h.id === id; });
    if (!hotel || (state.hotel && hotel.id === state.hotel.id)) return;
    state.generation++;
    state.notice = null;
    clearError();
    stopLive();
    selectHotel(hotel);
    renderAll();
    var generation = state.generation;
    refresh(true).then(function () { if (generation === state.generation && state.key) startLive(false); });
  }

  function scheduleRefresh(delay) {
    var at = Date.now();
    if (!state.refreshTimer) state.refreshDueBy = at + REFRESH_MAX_WAIT_MS;
    clearTimeout(state.refreshTimer);
    var wait = Math.min(delay === undefined ? REFRESH_DEBOUNCE_MS : delay, Math.max(0, state.refreshDueBy - at));
    state.refreshTimer = setTimeout(function () { state.refreshTimer = null; refresh(false); }, wait);
  }

  /** Reads the KPIs, the open complaints and the alerts (and the quality index when `full` or stale). */
  async function refresh(full) {
    if (!state.key || !state.hotel) return;
    if (state.refreshing) { state.refreshPending = true; state.refreshPendingFull = state.refreshPendingFull || full; return; }
    state.refreshing = true;
    var generation = state.generation;
    var hotel = state.hotel;
    var to = localDate(hotelZone(), now());
    var from = addDays(to, -29);
    var withQuality = full || !state.quality || Date.now() - state.qualityAt > QUALITY_MAX_AGE_MS;
    try {
      var requests = [
        api("v1/kpis", { hotel: hotel.id, from: from, to: to, groupBy: "day" }),
        api("v1/open", { hotel: hotel.id }),
        api("v1/alerts", { hotel: hotel.id }),
        withQuality ? api("v1/quality-index", { hotel: hotel.id }) : Promise.resolve(null)
      ];
      var fetchedAt = Date.now();
      var results = await Promise.allSettled(requests);
      if (generation !== state.generation) return;
      var failure = null;
      results.forEach(function (result) { if (result.status === "rejected" && (!failure || isAuthFailure(result.reason))) failure = result.reason; });
      if (results[0].status === "fulfilled") state.kpis = results[0].value;
      if (results[1].status === "fulfilled") {
        state.open = results[1].value;
        var at = parseDate(state.open && state.open.at);
        if (at) state.skewMs = at.getTime() - (fetchedAt + Date.now()) / 2;
      }
      if (results[2].status === "fulfilled") state.alerts = results[2].value;
      if (withQuality && results[3].status === "fulfilled") { state.quality = results[3].value; state.qualityAt = Date.now(); }
      renderAll();
      if (failure) throw failure;
      clearError();
      var stamp = new Date();
      state.lastRefreshAt = Date.now();
      var updated = $("last-updated");
      updated.textContent = fmtTime(stamp, true);
      updated.setAttribute("datetime", stamp.toISOString());
      state.refreshes++;
      document.body.dataset.refreshes = String(state.refreshes);
      if (!state.loaded) {
        state.loaded = true;
        document.body.dataset.loaded = "true";
      }
    } catch (error) {
      if (generation === state.generation) handleError(error);
    } finally {
      state.refreshing = false;
      // Asked for while this one ran: a live event, or another hotel picked meanwhile, whose first read
      // this then is (dropping it left that hotel's panels blank until its next event).
      if (state.refreshPending && state.key) {
        var pendingFull = state.refreshPendingFull || generation !== state.generation;
        state.refreshPending = false;
        state.refreshPendingFull = false;
        refresh(pendingFull);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Live stream: fetch() + a reader, parsed as server-sent events by hand

  function stopLive() {
    var live = state.live;
    clearTimeout(live.timer);
    live.timer = null;
    if (live.controller) { var c = live.controller; live.controller = null; c.abort(); }
    live.connected = false;
    live.retryAt = 0;
    renderLiveStatus();
  }

  /** Opens the stream; `reconnecting` (after it dropped) refreshes the panels once it is back. */
  function startLive(reconnecting) {
    stopLive();
    if (!state.key || !state.hotel) return;
    var live = state.live;
    var controller = new AbortController();
    live.controller = controller;
    live.lastActivity = Date.now();
    renderLiveStatus();
    follow(controller, state.generation, reconnecting === true).then(function (outcome) {
      if (live.controller !== controller) return; // stopped or replaced on purpose
      live.controller = null;
      live.connected = false;
      if (outcome && isAuthFailure(outcome)) { handleError(outcome); return; }
      if (outcome && outcome.title) live.lastError = outcome.message;
      var delay = Math.min(30000, 1000 * Math.pow(2, live.attempt)) + Math.floor(Math.random() * 500);
      live.attempt = Math.min(live.attempt + 1, 5);
      live.retryAt = Date.now() + delay;
      renderLiveStatus();
      live.timer = setTimeout(function () { if (state.key && state.hotel) startLive(true); }, delay);
    });
  }

  /** Reads the stream until it ends; resolves with the error that ended it, if any (never rejects). */
  async function follow(controller, generation, reconnecting) {
    var live = state.live;
    live.idleLimitMs = STREAM_IDLE_LIMIT_MS;
    var watchdog = setInterval(function () {
      if (Date.now() - live.lastActivity > live.idleLimitMs) controller.abort();
    }, 5000);
    try {
      var response = await fetch(apiUrl("v1/live", { hotel: state.hotel.id }), {
        headers: authHeaders("text/event-stream"), cache: "no-store", signal: controller.signal
      });
      if (!response.ok) return await problemFrom(response);
      if (!response.body) return new ApiError(0, t("networkError"), "no stream body");
      if (live.controller !== controller) return null;
      live.connected = true;
      live.lastActivity = Date.now();
      live.attempt = 0;
      live.lastError = null;
      renderLiveStatus();
      // Catch up on what happened while the stream was down.
      if (reconnecting && state.loaded && generation === state.generation) scheduleRefresh();

      var reader = response.body.getReader();
      var decoder = new TextDecoder("utf-8");
      var parser = sseParser(function (type, data) {
        if (generation === state.generation) onLiveEvent(type, data);
      }, function (comment) {
        var heartbeat = /heartbeat=(\d+)/.exec(comment);
        if (heartbeat) {
          live.idleLimitMs = Math.max(STREAM_IDLE_LIMIT_MS, 3 * 1000 * parseInt(heartbeat[1], 10));
          document.body.dataset.streamIdleLimit = String(live.idleLimitMs);
        }
      });
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        live.lastActivity = Date.now();
        parser.push(decoder.decode(chunk.value, { stream: true }));
      }
      parser.push(decoder.decode());
      return null;
    } catch (error) {
      return error && error.name === "AbortError" ? null : new ApiError(0, t("networkError"), String(error && error.message || error));
    } finally {
      clearInterval(watchdog);
    }
  }

  /** A server-sent-events parser: lines "event:", "data:", "id:", "retry:", ":comment"; a blank line dispatches. */
  function sseParser(dispatch, onComment) {
    var buffer = "";
    var type = "";
    var data = [];
    function line(text) {
      if (text === "") {
        if (data.length) {
          var payload = data.join("\n");
          var parsed = null;
          try { parsed = JSON.parse(payload); } catch (e) { parsed = { raw: payload }; }
          dispatch(type || "message", parsed);
        }
        type = "";
        data = [];
        return;
      }
      if (text.charAt(0) === ":") { if (onComment) onComment(text.slice(1).trim()); return; } // ": connected heartbeat=15", ": heartbeat"
      var colon = text.indexOf(":");
      var field = colon < 0 ? text : text.slice(0, colon);
      var value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.charAt(0) === " ") value = value.slice(1);
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
      // "id" and "retry" are ignored: reconnection has its own backoff.
    }
    return {
      push: function (text) {
        buffer += text;
        for (;;) {
          var match = /\r\n|\n|\r/.exec(buffer);
          if (!match) break;
          // A lone "\r" at the end may be the first half of "\r\n": wait for the next chunk.
          if (match[0] === "\r" && match.index === buffer.length - 1) break;
          var text1 = buffer.slice(0, match.index);
          buffer = buffer.slice(match.index + match[0].length);
          line(text1);
        }
      }
    };
  }

  function onLiveEvent(type, data) {
    // Updates were lost (this stream fell behind, or the service's LISTEN connection came back): the
    // activity list cannot be trusted to be complete, so read everything again.
    if (type === "resync") {
      state.resyncs = (state.resyncs || 0) + 1;
      document.body.dataset.resyncs = String(state.resyncs);
      scheduleRefresh(0);
      return;
    }
    if (!data || typeof data !== "object") data = {};
    if (data.hotelId && state.hotel && data.hotelId !== state.hotel.id) return;
    var item = { topic: data.topic || type, data: data, receivedAt: new Date() };
    state.feed.unshift(item);
    if (state.feed.length > FEED_LIMIT) state.feed.length = FEED_LIMIT;
    addFeedItem(item);
    scheduleRefresh();
  }

  function renderLiveStatus() {
    var node = $("live-status");
    var live = state.live;
    var label = node.querySelector(".live-label");
    var countdown = node.querySelector(".live-countdown");
    node.dataset.state = live.connected ? "live" : "offline";
    countdown.textContent = "";
    if (live.connected) {
      label.textContent = t("live");
      node.dataset.phase = "live";
      node.title = "";
    } else if (live.controller) {
      label.textContent = t("connecting");
      node.dataset.phase = "connecting";
      node.title = "";
    } else if (live.retryAt) {
      // The phase only is announced (role=status); the countdown beside it is for the eye, or a screen
      // reader would read it out every second.
      if (label.textContent !== t("reconnecting")) label.textContent = t("reconnecting");
      countdown.textContent = t("retryIn", Math.max(1, Math.ceil((live.retryAt - Date.now()) / 1000)));
      node.dataset.phase = "retrying";
      node.title = live.lastError || "";
    } else {
      label.textContent = t("offline");
      node.dataset.phase = "offline";
      node.title = "";
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Rendering

  function renderAll() {
    renderTiles();
    renderTrend();
    renderOpen();
    renderAlerts();
    renderQuality();
    renderCauses();
    renderRange();
  }

  function renderHotelPicker() {
    var select = $("hotel");
    select.replaceChildren();
    state.hotels.forEach(function (hotel) {
      var option = el("option", { value: hotel.id }, (hotel.name || hotel.id) + " (" + hotel.id + ")");
      if (state.hotel && hotel.id === state.hotel.id) option.selected = true;
      select.appendChild(option);
    });
    $("hotel-picker").hidden = state.hotels.length === 0;
  }

  function renderRange() {
    var node = $("kpi-range");
    var k = state.kpis;
    node.textContent = k && k.from && k.to ? k.from + " – " + k.to : "";
  }

  // KPI tiles -------------------------------------------------------------------------------------

  function renderTiles() {
    var box = $("kpi-tiles");
    var k = state.kpis;
    if (!k) { box.replaceChildren(); return; }
    var tot = k.totals || {};
    var ack = tot.timeToAcknowledge || {};
    var res = tot.timeToResolve || {};
    var ackSLA = tot.acknowledgeSLA || {};
    var resSLA = tot.resolveSLA || {};
    var fcr = tot.firstContactResolution || {};
    var rep = tot.repeatComplaints || {};
    var reo = tot.reopened || {};
    var sat = tot.satisfaction || {};
    var nps = tot.netPromoter || {};
    var esc = tot.escalations || {};
    var backlog = k.backlog || {};
    var bySeverity = backlog.bySeverity || {};
    var breaches = (isNum(ackSLA.breaches) ? ackSLA.breaches : 0) + (isNum(resSLA.breaches) ? resSLA.breaches : 0);
    var level = function (n) { return isNum(esc[String(n)]) ? esc[String(n)] : 0; };

    var tiles = [
      { id: "volume", raw: tot.volume, text: fmtInt(tot.volume), sub: t("days", fmtInt(30)) },
      {
        id: "open", raw: backlog.open, text: fmtInt(backlog.open),
        sub: SEVERITY_ORDER.map(function (s) { return tr("severities", s) + " " + fmtInt(bySeverity[s] || 0); }).join(" · "),
        tone: (bySeverity.serious || 0) > 0 ? "warn" : null
      },
      { id: "ack-median", raw: ack.medianSeconds, text: durationNodes(ack.medianSeconds), sub: t("p90", fmtDuration(ack.p90Seconds), fmtInt(ack.count || 0)) },
      { id: "resolve-median", raw: res.medianSeconds, text: durationNodes(res.medianSeconds), sub: t("p90", fmtDuration(res.p90Seconds), fmtInt(res.count || 0)) },
      { id: "ack-compliance", raw: ackSLA.compliance, text: fmtPercent(ackSLA.compliance), sub: t("metBreached", fmtInt(ackSLA.met || 0), fmtInt(ackSLA.breached || 0)), tone: complianceTone(ackSLA.compliance) },
      { id: "resolve-compliance", raw: resSLA.compliance, text: fmtPercent(resSLA.compliance), sub: t("metBreached", fmtInt(resSLA.met || 0), fmtInt(resSLA.breached || 0)), tone: complianceTone(resSLA.compliance) },
      { id: "fcr", raw: fcr.rate, text: fmtPercent(fcr.rate), sub: t("ofTotal", fmtInt(fcr.count || 0), fmtInt(fcr.of || 0)) },
      { id: "repeat", raw: rep.rate, text: fmtPercent(rep.rate), sub: t("ofTotal", fmtInt(rep.count || 0), fmtInt(rep.of || 0)) },
      { id: "reopen", raw: reo.rate, text: fmtPercent(reo.rate), sub: t("ofTotal", fmtInt(reo.count || 0), fmtInt(reo.of || 0)) },
      { id: "satisfaction", raw: sat.mean, text: fmtNumber(sat.mean, 1), sub: t("outOf5", fmtInt(sat.responses || 0)) },
      { id: "nps", raw: nps.score, text: isNum(nps.score) ? fmtSigned(Math.round(nps.score)) : "—", sub: t("responses", fmtInt(nps.responses || 0)) },
      { id: "escalations", raw: level(1), text: fmtInt(level(1)), sub: t("levels", fmtInt(level(2)), fmtInt(level(3))), tone: level(1) > 0 ? "warn" : null },
      { id: "breaches", raw: breaches, text: fmtInt(breaches), sub: t("breachSplit", fmtInt(ackSLA.breaches || 0), fmtInt(resSLA.breaches || 0)), tone: breaches > 0 ? "bad" : null },
      compensationTile(k)
    ];
    box.replaceChildren.apply(box, tiles.map(makeTile));
  }

  function complianceTone(value) {
    if (!isNum(value)) return null;
    if (value < 0.8) return "bad";
    if (value < 0.9) return "warn";
    return "good";
  }

  function makeTile(spec) {
    var value = el("div", { class: "value", "data-raw": raw(spec.raw) }, spec.text);
    if (spec.valueAttrs) setAttrs(value, spec.valueAttrs);
    var tile = el("div", { class: "tile", "data-kpi": spec.id, "data-tone": spec.tone || null },
      el("div", { class: "tile-label" }, t("kpi")[spec.id]),
      value,
      spec.sub ? el("div", { class: "tile-sub" }, spec.sub) : null,
      spec.extra || null);
    return tile;
  }

  function currentMonth() { return localDate(hotelZone(), now()).slice(0, 7); }

  function compensationTile(k) {
    var all = (k.budgets || []).filter(function (b) { return !state.hotel || !b.hotelId || b.hotelId === state.hotel.id; });
    var month = currentMonth();
    var budgets = all.filter(function (b) { return b.month === month; });
    if (!budgets.length) budgets = all;
    var spend = ((k.totals || {}).compensation || []).map(function (s) { return fmtMoney(s.amountMinor, s.currency); }).join(" · ");
    var rangeLine = el("div", { class: "tile-sub" }, spend ? t("approvedInRange", spend) : t("noCompensation"));
    if (!budgets.length) {
      return { id: "compensation", raw: null, text: "—", sub: t("noBudget"), extra: rangeLine };
    }
    var first = budgets[0];
    var rows = budgets.map(function (b, index) {
      var used = isNum(b.used) ? b.used : (b.budgetMinor > 0 ? b.spentMinor / b.budgetMinor : null);
      var fill = el("span", { class: "bar-fill" });
      fill.style.width = Math.max(0, Math.min(100, (used || 0) * 100)).toFixed(1) + "%";
      var tone = !isNum(used) ? "" : used >= 1 ? "bad" : used >= 0.8 ? "warn" : "good";
      return el("div", { class: "budget", "data-currency": b.currency, "data-spent-minor": raw(b.spentMinor), "data-budget-minor": raw(b.budgetMinor), "data-used": raw(b.used) },
        index > 0 ? el("div", { class: "budget-spent" }, fmtMoney(b.spentMinor, b.currency)) : null,
        el("div", { class: "bar", "data-tone": tone || null, role: "img", "aria-label": fmtPercent(used) }, fill),
        el("div", { class: "tile-sub" }, t("budgetOf", fmtMoney(b.budgetMinor, b.currency), fmtPercent(used))));
    });
    return {
      id: "compensation", raw: first.spentMinor, text: fmtMoney(first.spentMinor, first.currency),
      valueAttrs: { "data-currency": first.currency, "data-budget-minor": raw(first.budgetMinor), "data-used": raw(first.used) },
      tone: isNum(first.used) && first.used >= 1 ? "bad" : null,
      extra: [rows, rangeLine]
    };
  }

  // Trend chart -----------------------------------------------------------------------------------

  function niceStep(max, ticks) {
    var rough = max / ticks;
    var power = Math.pow(10, Math.floor(Math.log10(rough)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= rough) return steps[i] * power;
    return 10 * power;
  }

  function renderTrend() {
    var chart = $("trend-chart");
    chart.replaceChildren();
    var k = state.kpis;
    if (!k) return;
    var days = dayList(k.from, k.to);
    if (!days.length) return;
    var groups = {};
    (k.groups || []).forEach(function (g) { if (g && g.key) groups[g.key] = g; });
    var points = days.map(function (day) {
      var g = groups[day];
      return {
        day: day,
        volume: g && isNum(g.volume) ? g.volume : 0,
        compliance: g && g.acknowledgeSLA && isNum(g.acknowledgeSLA.compliance) ? g.acknowledgeSLA.compliance : null
      };
    });

    var W = 800, H = 280, left = 44, right = 52, top = 40, bottom = 34;
    var iw = W - left - right, ih = H - top - bottom;
    var maxVolume = Math.max.apply(null, points.map(function (p) { return p.volume; }));
    var step = maxVolume <= 4 ? 1 : niceStep(maxVolume, 4);
    var yMax = maxVolume <= 4 ? 4 : Math.ceil(maxVolume / step) * step;
    var y = function (v) { return top + ih - (v / yMax) * ih; };
    var yc = function (c) { return top + ih - c * ih; };
    var band = iw / points.length;
    var barWidth = Math.max(2, band * 0.64);

    chart.setAttribute("viewBox", "0 0 " + W + " " + H);
    chart.appendChild(svg("title", null, t("trendHeading")));

    // Grid and axes.
    var grid = svg("g", { class: "grid" });
    for (var v = 0; v <= yMax + 1e-9; v += step) {
      grid.appendChild(svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: v === 0 ? "axis-line" : "grid-line" }));
      grid.appendChild(svg("text", { x: left - 8, y: y(v) + 4, class: "axis-label", "text-anchor": "end" }, fmtInt(v)));
    }
    [0, 0.5, 1].forEach(function (c) {
      grid.appendChild(svg("text", { x: W - right + 8, y: yc(c) + 4, class: "axis-label axis-label-right", "text-anchor": "start" },
        fmtPercent(c)));
    });
    chart.appendChild(grid);

    // Bars: one per day.
    var bars = svg("g", { class: "bars" });
    points.forEach(function (p, i) {
      var x = left + i * band + (band - barWidth) / 2;
      var h = Math.max(0, top + ih - y(p.volume));
      var bar = svg("rect", { x: x.toFixed(2), y: (top + ih - h).toFixed(2), width: barWidth.toFixed(2), height: h.toFixed(2), rx: 2, class: "bar-volume", "data-day": p.day, "data-volume": p.volume },
        svg("title", null, t("chartTitle", p.day.slice(5), fmtInt(p.volume), fmtPercent(p.compliance))));
      bars.appendChild(bar);
    });
    chart.appendChild(bars);

    // The acknowledge-compliance line through the days that had a decided deadline (a day without one
    // has no rate: the line joins its neighbours, and only days with a rate get a dot).
    var known = [];
    points.forEach(function (p, i) {
      if (p.compliance !== null) known.push([left + i * band + band / 2, yc(Math.max(0, Math.min(1, p.compliance))), p]);
    });
    var line = svg("g", { class: "compliance" });
    if (known.length > 1) {
      var path = known.map(function (pt, i) { return (i ? "L" : "M") + pt[0].toFixed(2) + " " + pt[1].toFixed(2); }).join(" ");
      line.appendChild(svg("path", { d: path, class: "line-compliance" }));
    }
    known.forEach(function (pt) {
      line.appendChild(svg("circle", { cx: pt[0].toFixed(2), cy: pt[1].toFixed(2), r: 3, class: "dot-compliance", "data-day": pt[2].day, "data-compliance": raw(pt[2].compliance) },
        svg("title", null, pt[2].day.slice(5) + " · " + t("chartCompliance") + " " + fmtPercent(pt[2].compliance))));
    });
    chart.appendChild(line);

    // Date labels (MM-DD), about ten along the axis, always the last day.
    var labels = svg("g", { class: "x-labels" });
    var every = Math.max(1, Math.ceil(points.length / 10));
    points.forEach(function (p, i) {
      var last = i === points.length - 1;
      if (i % every !== 0 && !last) return;
      if (!last && points.length - 1 - i < every / 2) return; // keep clear of the last label
      labels.appendChild(svg("text", { x: (left + i * band + band / 2).toFixed(2), y: H - bottom + 18, class: "axis-label", "text-anchor": "middle" }, p.day.slice(5)));
    });
    chart.appendChild(labels);

    // Legend.
    var legend = svg("g", { class: "legend", transform: "translate(" + left + ",14)" });
    chart.appendChild(legend); // attached first, so its text can be measured
    legend.appendChild(svg("rect", { x: 0, y: 0, width: 14, height: 10, rx: 2, class: "bar-volume" }));
    var volumeLabel = svg("text", { x: 20, y: 9, class: "legend-label" }, t("chartVolume"));
    legend.appendChild(volumeLabel);
    var measured = 0;
    try { measured = volumeLabel.getComputedTextLength(); } catch (e) { measured = 0; }
    var offset = 20 + (measured || t("chartVolume").length * (state.lang === "zh-CN" ? 13 : 7)) + 24;
    legend.appendChild(svg("line", { x1: offset, x2: offset + 18, y1: 5, y2: 5, class: "line-compliance" }));
    legend.appendChild(svg("circle", { cx: offset + 9, cy: 5, r: 3, class: "dot-compliance" }));
    legend.appendChild(svg("text", { x: offset + 24, y: 9, class: "legend-label" }, t("chartCompliance") + " (%)"));

    if (maxVolume === 0) {
      chart.appendChild(svg("text", { x: left + iw / 2, y: top + ih / 2, class: "chart-empty", "text-anchor": "middle" }, t("chartEmpty")));
    }
  }

  // Open complaints -------------------------------------------------------------------------------

  function deadlineOf(c) {
    if (c.acknowledgeBy) return { at: c.acknowledgeBy, target: "acknowledge" };
    if (c.resolveBy) return { at: c.resolveBy, target: "resolve" };
    return null;
  }

  function renderOpen() {
    var table = $("open-complaints");
    var body = table.tBodies[0];
    var complaints = (state.open && state.open.complaints) || [];
    if (!state.open) { body.replaceChildren(); renderOpenSummary([]); return; }
    var rows = complaints.map(function (c) {
      var deadline = deadlineOf(c);
      var severity = c.severity || "";
      var row = el("tr", {
        "data-complaint": c.complaintId,
        "data-severity": severity || "none",
        "data-category": c.category || "none",
        "data-status": c.status || "none",
        "data-level": String(c.escalationLevel || 0),
        "data-vip": c.vip ? "true" : "false",
        "data-breached": c.breached ? "true" : "false",
        "data-deadline": deadline ? deadline.at : "",
        class: c.breached ? "row-breached" : null
      },
        el("td", null, el("span", { class: "badge sev-" + (severity || "none") }, severity ? tr("severities", severity) : t("unrated"))),
        el("td", null, c.category ? tr("categories", c.category) : el("span", { class: "muted" }, t("unclassified"))),
        el("td", null, el("span", { class: "status status-" + (c.status || "none") }, tr("statuses", c.status))),
        el("td", { class: "center" }, c.vip ? el("span", { class: "vip", title: "VIP" }, "★ " + t("vip")) : el("span", { class: "muted", "aria-hidden": "true" }, "·")),
        el("td", { class: "center" }, c.escalationLevel > 0 ? el("span", { class: "level level-" + Math.min(3, c.escalationLevel) }, t("level", c.escalationLevel)) : el("span", { class: "muted" }, "—")),
        el("td", { class: "age", "data-since": c.registeredAt || "" }, ""),
        el("td", { class: "countdown", "data-deadline": deadline ? deadline.at : "", "data-target": deadline ? deadline.target : "" },
          el("span", { class: "cd-target" }, deadline ? t("target")[deadline.target] : ""),
          el("span", { class: "cd-time" }, deadline ? "" : t("noDeadline"))));
      return row;
    });
    if (!rows.length) rows.push(el("tr", { class: "empty-row" }, el("td", { colspan: 7, class: "empty" }, t("noOpen"))));
    body.replaceChildren.apply(body, rows);
    renderOpenSummary(complaints);
    tick();
  }

  /**
   * The counts above the table: of every open complaint (the API's total, bySeverity and byStatus),
   * not of the at most 500 listed, and a line under the table when the list is the first of more.
   */
  function renderOpenSummary(complaints) {
    var box = $("open-summary");
    var more = $("open-more");
    more.hidden = true;
    more.textContent = "";
    if (!state.open) { box.replaceChildren(); return; }
    var severities = {};
    var statuses = {};
    var total = complaints.length;
    if (typeof state.open.total === "number" && state.open.bySeverity && state.open.byStatus) {
      total = state.open.total;
      var counted = function (counts, into) {
        var sum = 0;
        Object.keys(counts).forEach(function (k) { into[k] = counts[k]; sum += counts[k]; });
        if (total > sum) into.none = total - sum;
      };
      counted(state.open.bySeverity, severities);
      counted(state.open.byStatus, statuses);
    } else {
      complaints.forEach(function (c) {
        var s = c.severity || "none";
        severities[s] = (severities[s] || 0) + 1;
        var st = c.status || "none";
        statuses[st] = (statuses[st] || 0) + 1;
      });
    }
    if (complaints.length < total) {
      more.textContent = t("firstOfTotal", fmtInt(complaints.length), fmtInt(total));
      more.hidden = false;
    }
    var severityKeys = SEVERITY_ORDER.concat(Object.keys(severities).filter(function (s) { return SEVERITY_ORDER.indexOf(s) < 0; }));
    var statusKeys = STATUS_ORDER.filter(function (s) { return statuses[s]; })
      .concat(Object.keys(statuses).filter(function (s) { return STATUS_ORDER.indexOf(s) < 0; }));
    var chip = function (kind, code, label, count, cls) {
      return el("span", { class: "chip " + cls, "data-count": kind + ":" + code, "data-value": String(count) }, label + " ", el("b", null, fmtInt(count)));
    };
    box.replaceChildren(
      el("span", { class: "summary-total", "data-value": String(total) }, t("totalOpen", fmtInt(total))),
      el("div", { class: "summary-group" },
        el("span", { class: "summary-title" }, t("bySeverity")),
        severityKeys.filter(function (s) { return SEVERITY_ORDER.indexOf(s) >= 0 || severities[s]; }).map(function (s) {
          return chip("severity", s, s === "none" ? t("unrated") : tr("severities", s), severities[s] || 0, "sev-" + s + ((severities[s] || 0) ? "" : " chip-zero"));
        })),
      el("div", { class: "summary-group" },
        el("span", { class: "summary-title" }, t("byStatus")),
        statusKeys.length ? statusKeys.map(function (s) {
          return chip("status", s, s === "none" ? "—" : tr("statuses", s), statuses[s], "chip-status");
        }) : el("span", { class: "muted" }, "—")));
  }

  /** Every second: the hotel's clock, the countdowns and the ages. */
  function tick() {
    var moment = now();
    if (state.hotel) {
      var clock = $("hotel-clock");
      clock.textContent = fmtClock(moment) + (state.hotel.timeZone ? " (" + state.hotel.timeZone + ")" : "");
      clock.setAttribute("datetime", moment.toISOString());
    }
    document.querySelectorAll("#open-complaints td.countdown").forEach(function (cell) {
      var deadline = parseDate(cell.getAttribute("data-deadline"));
      if (!deadline) return;
      var seconds = (deadline.getTime() - moment.getTime()) / 1000;
      var text = seconds < 0 ? t("overdue", fmtCountdown(seconds)) : fmtCountdown(seconds);
      var time = cell.querySelector(".cd-time");
      if (time.textContent !== text) time.textContent = text;
      cell.classList.toggle("overdue", seconds < 0);
      cell.classList.toggle("soon", seconds >= 0 && seconds < 15 * 60);
      cell.setAttribute("data-seconds", String(Math.round(seconds)));
    });
    document.querySelectorAll("#open-complaints td.age").forEach(function (cell) {
      var since = parseDate(cell.getAttribute("data-since"));
      if (!since) return;
      var text = t("ago", fmtDuration((moment.getTime() - since.getTime()) / 1000));
      if (cell.textContent !== text) cell.textContent = text;
      cell.title = fmtDateTime(since);
    });
    if (!state.live.connected && state.live.retryAt) renderLiveStatus();
  }

  // Alerts ----------------------------------------------------------------------------------------

  function renderAlerts() {
    var box = $("alerts");
    if (!state.alerts) { box.replaceChildren(); return; }
    var alerts = ((state.alerts && state.alerts.alerts) || []).filter(function (a) { return !a.clearedAt; }).slice();
    alerts.sort(function (a, b) {
      var s = (b.severity === "critical") - (a.severity === "critical");
      return s || (Date.parse(b.raisedAt) || 0) - (Date.parse(a.raisedAt) || 0);
    });
    if (!alerts.length) { box.replaceChildren(el("p", { class: "empty" }, t("noAlerts"))); return; }
    box.replaceChildren.apply(box, alerts.map(function (a) {
      var subject;
      var figures;
      if (a.kind === "category_spike") {
        subject = tr("categories", a.subject);
        figures = t("observedBaseline", fmtPlain(a.observed), fmtPlain(a.baseline));
      } else if (a.kind === "compensation_budget") {
        subject = a.subject;
        figures = t("spendBudget", fmtMoney(a.observed, a.subject), fmtMoney(a.baseline, a.subject));
      } else if (a.kind === "sla_compliance") {
        subject = tr("slaSubjects", a.subject);
        figures = t("metDecided", fmtPlain(a.observed), fmtPlain(a.baseline), fmtPercent(a.baseline > 0 ? a.observed / a.baseline : null));
      } else {
        subject = humanize(a.subject || "");
        figures = t("observedBaseline", fmtPlain(a.observed), fmtPlain(a.baseline));
      }
      var raised = parseDate(a.raisedAt);
      var start = parseDate(a.windowStart);
      var end = parseDate(a.windowEnd);
      return el("article", { class: "alert alert-" + (a.severity || "warning"), "data-alert": a.alertId, "data-kind": a.kind, "data-severity": a.severity },
        el("header", { class: "alert-head" },
          el("span", { class: "alert-kind" }, tr("alertKinds", a.kind)),
          el("span", { class: "badge alert-sev-" + (a.severity || "warning") }, tr("alertSeverities", a.severity))),
        el("div", { class: "alert-subject" }, subject),
        el("div", { class: "alert-figures" }, figures),
        el("div", { class: "alert-meta muted small" },
          raised ? t("since", fmtDateTime(raised), t("ago", fmtDuration((now().getTime() - raised.getTime()) / 1000))) : "",
          start && end ? " · " + t("window", fmtDateTime(start), fmtTime(end)) : "",
          isNum(a.pValue) ? " · " + t("pValue") + " " + a.pValue.toExponential(1) : ""));
    }));
  }

  // Quality index ---------------------------------------------------------------------------------

  function scoreTone(score) {
    if (!isNum(score)) return null;
    return score >= 80 ? "good" : score >= 60 ? "warn" : "bad";
  }

  function renderQuality() {
    var box = $("quality-index");
    if (!state.quality) { box.replaceChildren(); return; }
    var indices = state.quality.indices || [];
    var index = indices.find(function (i) { return state.hotel && i.hotelId === state.hotel.id; }) || indices[0];
    if (!index) { box.replaceChildren(el("p", { class: "empty" }, t("noQuality"))); return; }
    var dims = index.dimensions || {};
    var names = DIMENSION_ORDER.concat(Object.keys(dims).filter(function (d) { return DIMENSION_ORDER.indexOf(d) < 0; }));
    box.replaceChildren(
      el("div", { class: "qi-overall", "data-tone": scoreTone(index.score) },
        el("span", { class: "qi-score", "data-raw": raw(index.score) }, fmtNumber(index.score, 1)),
        el("span", { class: "qi-of" }, t("qualityOf")),
        el("div", { class: "qi-meta muted small" }, t("qualityMeta", index.month || "", fmtInt(index.complaints || 0)))),
      el("ul", { class: "qi-dims" }, names.filter(function (n) { return dims[n]; }).map(function (name) {
        var d = dims[name];
        var fill = el("span", { class: "bar-fill" });
        fill.style.width = (isNum(d.score) ? Math.max(0, Math.min(100, d.score)) : 0).toFixed(1) + "%";
        return el("li", { class: "qi-dim", "data-dimension": name },
          el("span", { class: "qi-name" }, tr("dimensions", name)),
          el("span", { class: "bar", "data-tone": scoreTone(d.score), role: "img", "aria-label": fmtNumber(d.score, 1) }, fill),
          el("span", { class: "qi-dim-score", "data-raw": raw(d.score) }, fmtNumber(d.score, 1)),
          el("span", { class: "qi-weight muted small" }, t("weight", fmtPercent(d.weight))));
      })));
  }

  // Root causes -----------------------------------------------------------------------------------

  function renderCauses() {
    var list = $("root-causes");
    if (!state.kpis) { list.replaceChildren(); return; }
    var causes = state.kpis.topRootCauses || [];
    if (!causes.length) { list.replaceChildren(el("li", { class: "empty" }, t("noCauses"))); return; }
    var max = Math.max.apply(null, causes.map(function (c) { return c.count || 0; }).concat([1]));
    list.replaceChildren.apply(list, causes.map(function (c) {
      var fill = el("span", { class: "bar-fill" });
      fill.style.width = ((c.count || 0) / max * 100).toFixed(1) + "%";
      return el("li", { class: "cause", "data-cause": c.rootCause, "data-count": String(c.count) },
        el("span", { class: "cause-name" }, humanize(c.rootCause)),
        el("span", { class: "bar" }, fill),
        el("span", { class: "cause-count" }, fmtInt(c.count)));
    }));
  }

  // Live feed -------------------------------------------------------------------------------------

  function feedText(item) {
    var d = item.data || {};
    var parts = [tr("topics", item.topic)];
    var category = d.category ? tr("categories", d.category) : null;
    var severity = d.severity ? tr("severities", d.severity) : null;
    switch (item.topic) {
      case "received":
        if (d.kind) parts.push(tr("channels", d.kind));
        break;
      case "classified":
        parts.push(category, severity);
        break;
      case "assigned":
        parts.push(category, severity, d.kind ? tr("reasons", d.kind) : null, isNum(d.level) && d.level > 0 ? t("level", d.level) : null);
        break;
      case "updated":
        parts.push(d.kind ? tr("updateKinds", d.kind) : null, d.status && d.status !== d.kind ? tr("statuses", d.status) : null);
        break;
      case "sla":
        parts.push(d.kind ? tr("slaKinds", d.kind) : null, d.kind === "escalated" && isNum(d.level) ? t("escalatedTo", d.level) : null, severity);
        break;
      case "alert":
        // subject: the category, currency or SLA target; status: raised or cleared.
        var subject = d.subject || d.category;
        parts.push(d.kind ? tr("alertKinds", d.kind) : null,
          d.kind === "category_spike" && subject ? tr("categories", subject) : d.kind === "sla_compliance" ? tr("slaSubjects", subject) : subject,
          d.severity ? tr("alertSeverities", d.severity) : null,
          d.status === "cleared" ? t("alertCleared") : null);
        break;
      default:
        parts.push(d.kind ? humanize(d.kind) : null);
    }
    return parts.filter(function (p) { return p; }).join(" · ");
  }

  function feedNode(item) {
    var d = item.data || {};
    var highlight = item.topic === "sla" ? HIGHLIGHT_SLA[d.kind] : item.topic === "alert" ? (d.severity === "critical" ? "critical" : "warning") : null;
    var at = parseDate(d.at) || item.receivedAt;
    return el("li", {
      class: "feed-item" + (highlight ? " feed-" + highlight : ""),
      "data-topic": item.topic, "data-kind": d.kind || null, "data-complaint": d.complaintId || null
    },
      el("time", { class: "feed-time", datetime: at.toISOString() }, fmtTime(at, true)),
      el("span", { class: "feed-text" }, feedText(item)),
      d.complaintId ? el("span", { class: "feed-id muted", title: d.complaintId }, "#" + String(d.complaintId).slice(0, 8)) : null);
  }

  /** The whole list, for a hotel just picked (its feed starts empty). */
  function renderFeed() {
    var list = $("live-feed");
    list.replaceChildren.apply(list, state.feed.map(feedNode));
    $("live-empty").hidden = state.feed.length > 0;
  }

  /**
   * One new event: its item goes on top and the oldest beyond FEED_LIMIT goes. The list is
   * aria-live (additions): rebuilding it made screen readers read every item out on each event.
   */
  function addFeedItem(item) {
    var list = $("live-feed");
    list.insertBefore(feedNode(item), list.firstChild);
    while (list.children.length > FEED_LIMIT) list.removeChild(list.lastChild);
    $("live-empty").hidden = true;
  }

  /** After a language switch: the items' texts changed in place (text changes are not announced). */
  function relabelFeed() {
    var nodes = $("live-feed").children;
    state.feed.forEach(function (item, index) {
      var node = nodes[index];
      if (!node) return;
      var at = parseDate((item.data || {}).at) || item.receivedAt;
      node.querySelector(".feed-time").textContent = fmtTime(at, true);
      node.querySelector(".feed-text").textContent = feedText(item);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Start

  function init() {
    state.lang = initialLang();
    applyStaticTexts();
    $("lang-toggle").addEventListener("click", toggleLanguage);
    $("sign-out").addEventListener("click", function () { signOut(false); });
    $("signin-form").addEventListener("submit", onSignIn);
    $("hotel").addEventListener("change", onHotelChange);
    setInterval(tick, 1000);
    // Without the stream, poll now and then so the page never goes stale.
    setInterval(function () {
      if (!state.key || !state.hotel || state.refreshing) return;
      var stale = Date.now() - state.lastRefreshAt > POLL_WHILE_OFFLINE_MS;
      if (!state.loaded || (!state.live.connected && stale)) scheduleRefresh(0);
    }, 15 * 1000);
    document.body.dataset.refreshes = "0";

    var key = readKeyFromFragment();
    if (key) storeKey(key);
    else state.key = storedKey();
    if (state.key) start();
    else showSignIn();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
