// The console's words: Vietnamese by default, English on request (remembered in this browser).
const STRINGS = {
  vi: {
    app: "Loa làng", skip: "Bỏ qua menu", language: "English", language_label: "Switch to English",
    login_title: "Đăng nhập", username: "Tên đăng nhập", password: "Mật khẩu", login: "Đăng nhập",
    logout: "Đăng xuất", login_failed: "Không đăng nhập được: {reason}",
    nav_dashboard: "Tổng quan", nav_devices: "Cụm loa", nav_media: "Thư viện", nav_bulletins: "Bản tin",
    nav_schedule: "Lịch phát", nav_broadcast: "Phát ngay", nav_live: "Trực tiếp", nav_emergency: "Khẩn cấp",
    nav_reports: "Báo cáo", nav_admin: "Quản trị", main_menu: "Menu chính",
    online: "Trực tuyến", offline: "Mất kết nối", playing: "Đang phát", clusters: "Cụm loa",
    not_heard: "Phát không nghe thấy",
    on_air: "Đang phát sóng", nothing_on_air: "Không có gì đang phát.", next_items: "Sắp phát",
    nothing_next: "Chưa có lịch phát.", feed: "Diễn biến", feed_empty: "Chưa có sự kiện mới.",
    stop_all: "Dừng tất cả", stop_all_confirm: "Dừng mọi chương trình đang phát trong khu vực của bạn?",
    stopped_n: "Đã dừng {n} chương trình.", stopped_broker_away: "Máy chủ tin nhắn (broker) đang mất kết nối: lệnh dừng đã được ghi lại và sẽ đến từng cụm loa khi kết nối trở lại.", map: "Bản đồ cụm loa", map_list: "Danh sách cụm loa trên bản đồ",
    confirm: "Xác nhận", cancel: "Huỷ", close: "Đóng", save: "Lưu", search: "Tìm",
    area: "Khu vực", all_areas: "Tất cả khu vực", state: "Trạng thái", all_states: "Tất cả",
    name: "Tên", last_seen: "Lần cuối", signal: "Sóng", temperature: "Nhiệt độ", data_used: "Dữ liệu",
    uptime_7d: "Hoạt động 7 ngày", volume: "Âm lượng", amplifier: "Bộ khuếch đại", on: "Bật", off: "Tắt",
    no_devices: "Không có cụm loa nào.", devices_shown: "{n} cụm loa",
    device: "Cụm loa", telemetry_7d: "Số đo 7 ngày qua", receipts: "Đã phát gần đây", events: "Sự kiện",
    actions: "Thao tác bảo trì", test_tone: "Phát âm thử", chime: "Phát chuông báo", set_volume: "Đặt âm lượng", set_volume_to: "Đặt âm lượng {level}%",
    volume_invalid: "Nhập âm lượng là một số nguyên từ 0 đến 100.",
    amp_on: "Bật khuếch đại", amp_off: "Tắt khuếch đại", resync: "Đồng bộ lại", reboot: "Khởi động lại",
    upload_logs: "Gửi nhật ký", action_confirm: "{action} cho {device}?", action_sent: "Đã gửi: {action}",
    action_reply: "{action}: {status}", errors: "Lỗi gần đây", no_errors: "Không có lỗi.",
    now_playing: "Đang phát", nothing_playing: "Không phát", time_unknown: "chưa rõ giờ",
    never: "chưa bao giờ", ago: "{t} trước", seconds: "{n} giây", minutes: "{n} phút", hours: "{n} giờ",
    days: "{n} ngày", loading: "Đang tải…", error: "Lỗi: {reason}", not_found: "Không tìm thấy trang.",
    forbidden: "Bạn không có quyền xem trang này.", field_title: "Cụm loa {id}",
    signal_dbm: "Sóng (dBm)", temperature_c: "Nhiệt độ (°C)", data_mb: "Dữ liệu (MB)", no_data: "Chưa có số liệu.",
    level: "Mức", title: "Tiêu đề", when: "Lúc", what: "Nội dung", where: "Nơi",
    targets: "Phát tới", choose_targets: "Chọn nơi phát", ended: "Đã dừng",
    lv_background: "nền", lv_normal: "thường", lv_priority: "ưu tiên", lv_live: "trực tiếp",
    lv_emergency: "khẩn cấp", zone_note: "Giờ {offset}",
  },
  en: {
    app: "Village loudspeakers", skip: "Skip the menu", language: "Tiếng Việt", language_label: "Chuyển sang tiếng Việt",
    login_title: "Log in", username: "User name", password: "Password", login: "Log in",
    logout: "Log out", login_failed: "Could not log in: {reason}",
    nav_dashboard: "Dashboard", nav_devices: "Clusters", nav_media: "Library", nav_bulletins: "Bulletins",
    nav_schedule: "Schedule", nav_broadcast: "Broadcast now", nav_live: "Live", nav_emergency: "Emergency",
    nav_reports: "Reports", nav_admin: "Administration", main_menu: "Main menu",
    online: "Online", offline: "Offline", playing: "Playing", clusters: "Clusters",
    not_heard: "Played, not heard",
    on_air: "On air", nothing_on_air: "Nothing on air.", next_items: "Coming up",
    nothing_next: "Nothing scheduled.", feed: "Events", feed_empty: "No new events.",
    stop_all: "Stop everything", stop_all_confirm: "Stop everything on the air in your area?",
    stopped_n: "{n} stopped.", stopped_broker_away: "The broker is unreachable: the stop is recorded and reaches each cluster as it comes back.", map: "Map of the clusters", map_list: "Clusters on the map",
    confirm: "Confirm", cancel: "Cancel", close: "Close", save: "Save", search: "Search",
    area: "Area", all_areas: "All areas", state: "State", all_states: "All",
    name: "Name", last_seen: "Last seen", signal: "Signal", temperature: "Temperature", data_used: "Data",
    uptime_7d: "Uptime 7 days", volume: "Volume", amplifier: "Amplifier", on: "On", off: "Off",
    no_devices: "No clusters.", devices_shown: "{n} clusters",
    device: "Cluster", telemetry_7d: "The last 7 days", receipts: "Recently aired", events: "Events",
    actions: "Maintenance", test_tone: "Test tone", chime: "Attention chime", set_volume: "Set volume", set_volume_to: "Set the volume to {level}%",
    volume_invalid: "Enter the volume as a whole number from 0 to 100.",
    amp_on: "Amplifier on", amp_off: "Amplifier off", resync: "Resync", reboot: "Reboot",
    upload_logs: "Upload logs", action_confirm: "{action} on {device}?", action_sent: "Sent: {action}",
    action_reply: "{action}: {status}", errors: "Recent errors", no_errors: "No errors.",
    now_playing: "Playing", nothing_playing: "Not playing", time_unknown: "time unknown",
    never: "never", ago: "{t} ago", seconds: "{n} s", minutes: "{n} min", hours: "{n} h",
    days: "{n} days", loading: "Loading…", error: "Error: {reason}", not_found: "No such page.",
    forbidden: "You may not see this page.", field_title: "Cluster {id}",
    signal_dbm: "Signal (dBm)", temperature_c: "Temperature (°C)", data_mb: "Data (MB)", no_data: "No data yet.",
    level: "Level", title: "Title", when: "When", what: "What", where: "Where",
    targets: "Broadcast to", choose_targets: "Choose where to broadcast", ended: "Ended",
    lv_background: "background", lv_normal: "normal", lv_priority: "priority", lv_live: "live",
    lv_emergency: "emergency", zone_note: "Times in {offset}",
  },
};

/** Add a page's own words ({vi: {...}, en: {...}}); each page module calls this once. */
export function addStrings(table) {
  for (const code of Object.keys(STRINGS)) Object.assign(STRINGS[code], table[code] || {});
}

const STORE_KEY = "loalang.language";
let current = localStorage.getItem(STORE_KEY) === "en" ? "en" : "vi";
document.documentElement.lang = current;

/** The text of key in the current language, with {name} replaced from values. */
export function t(key, values = {}) {
  const text = STRINGS[current][key] ?? STRINGS.vi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

/** The current language ("vi" or "en"). */
export function language() { return current; }

/** Switch language (remembered in this browser). */
export function setLanguage(code) {
  current = code === "en" ? "en" : "vi";
  localStorage.setItem(STORE_KEY, current);
  document.documentElement.lang = current;
}

/** "3 minutes ago" from a time in ms (or an ISO text). */
export function ago(when) {
  if (!when) return t("never");
  const ms = typeof when === "number" ? when : Date.parse(when);
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 90) return t("ago", { t: t("seconds", { n: seconds }) });
  if (seconds < 5400) return t("ago", { t: t("minutes", { n: Math.round(seconds / 60) }) });
  if (seconds < 129600) return t("ago", { t: t("hours", { n: Math.round(seconds / 3600) }) });
  return t("ago", { t: t("days", { n: Math.round(seconds / 86400) }) });
}

const DEFAULT_ZONE = "Asia/Ho_Chi_Minh";
let zone = DEFAULT_ZONE;

/** Show every time in this time zone (the signed-in user's area's, from the session), whatever the
 *  browser's own zone. */
export function setZone(name) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    zone = name;
  } catch {
    zone = DEFAULT_ZONE;  // a zone this browser does not know
  }
}

/** The time zone times are shown in. */
export function timeZone() { return zone; }

/** The zone's offset as people read it ("GMT+7"). */
export function zoneOffset() {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: zone, timeZoneName: "shortOffset" })
    .formatToParts(new Date());
  return (parts.find((part) => part.type === "timeZoneName") || { value: zone }).value;
}

/** A date and time in the area's time zone for a time in ms (or an ISO text with its offset). */
export function when(value) {
  const ms = typeof value === "number" ? value : Date.parse(value);
  return new Date(ms).toLocaleString(current === "en" ? "en-GB" : "vi-VN",
    { dateStyle: "short", timeStyle: "short", timeZone: zone });
}
