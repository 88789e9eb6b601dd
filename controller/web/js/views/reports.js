// Reports: what was aired per day, delivery per bulletin or broadcast, each cluster's uptime and mobile
// data, all from the devices' signed receipts, with CSV downloads (the API's own CSV where it has one).
import { call } from "../api.js";
import { barChart, columnChart } from "../bars.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t } from "../i18n.js";
import { busy, say } from "../ui.js";

addStrings({
  vi: {
    rep_from_date: "Từ ngày", rep_to_date: "Đến ngày", rep_show: "Xem", rep_plays_total: "Lượt phát",
    rep_completed: "Phát trọn vẹn", rep_not_completed: "Không trọn vẹn",
    rep_aired_per_day: "Số lượt phát theo ngày", rep_day: "Ngày",
    rep_delivery_per_item: "Tỷ lệ phát trọn vẹn theo bản tin / chương trình",
    rep_uptime_per_cluster: "Thời gian hoạt động của từng cụm loa ({n} ngày qua)",
    rep_data_per_cluster: "Dữ liệu di động đã dùng tháng này (MB)", rep_downloads: "Tải về (CSV)",
    rep_csv_plays: "Các lần phát (CSV, từ máy chủ)", rep_csv_days: "Số lượt phát theo ngày (CSV)",
    rep_csv_delivery: "Tỷ lệ phát theo bản tin (CSV)", rep_csv_devices: "Cụm loa: hoạt động và dữ liệu (CSV)",
    rep_csv_made: "Đã tạo tệp {name}", rep_online_for: "trực tuyến {t}",
    rep_report_window: "Khoảng thời gian báo cáo", rep_plays_of: "{done}/{all} lượt",
    rep_bad_window: "Chọn khoảng từ 1 đến 93 ngày, ngày bắt đầu không sau ngày kết thúc." },
  en: {
    rep_from_date: "From", rep_to_date: "To", rep_show: "Show", rep_plays_total: "Plays",
    rep_completed: "Played in full", rep_not_completed: "Not in full", rep_aired_per_day: "Plays per day",
    rep_day: "Day", rep_delivery_per_item: "Played in full, per bulletin or broadcast",
    rep_uptime_per_cluster: "Uptime of each cluster (last {n} days)",
    rep_data_per_cluster: "Mobile data used this month (MB)", rep_downloads: "Downloads (CSV)",
    rep_csv_plays: "Every play (CSV, from the server)", rep_csv_days: "Plays per day (CSV)",
    rep_csv_delivery: "Delivery per bulletin (CSV)", rep_csv_devices: "Clusters: uptime and data (CSV)",
    rep_csv_made: "Made {name}", rep_online_for: "online {t}", rep_report_window: "Report period",
    rep_plays_of: "{done} of {all} plays",
    rep_bad_window: "Choose 1 to 93 days, the first not after the last." },
});

const ZONE = "Asia/Ho_Chi_Minh";
const DAY_MS = 86400000;
const localDay = new Intl.DateTimeFormat("en-CA",
  { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" });

/** Render the reports page into main. */
export async function render(main) {
  const areas = await call("GET", "/areas");
  const today = localDay.format(new Date());
  const from = h("input", { type: "date", name: "from_date", value: shiftDay(today, -6), required: true });
  const to = h("input", { type: "date", name: "to_date", value: today, required: true });
  const area = h("select", { name: "area_id" }, h("option", { value: "" }, t("all_areas")),
    areas.map((a) => h("option", { value: a.id }, `${a.name} (${a.id})`)));
  const results = h("div", { "aria-live": "polite" });
  const show = h("button", { type: "submit", class: "primary" }, t("rep_show"));
  const form = h("form", { class: "filters", "aria-label": t("rep_report_window"),
    onsubmit: (event) => { event.preventDefault(); busy(show, load); } },
  field(t("rep_from_date"), from), field(t("rep_to_date"), to), field(t("area"), area), show);
  fill(main, h("h1", {}, t("nav_reports")), form, results);

  let latest = 0;
  async function load() {
    const asked = ++latest;
    const period = { from_date: from.value, to_date: to.value, area_id: area.value };
    const days = dayList(period.from_date, period.to_date);
    if (!days.length || days.length > 93) { say(t("rep_bad_window"), "error"); return; }
    fill(results, h("p", { class: "loading" }, t("loading")));
    const [plays, devices, live] = await Promise.all([
      call("GET", "/reports/plays", undefined, period),
      call("GET", "/reports/devices", undefined, { days: days.length, area_id: period.area_id }),
      call("GET", "/devices", undefined, { area: period.area_id }),
    ]);
    if (asked !== latest) return;  // a newer question was asked meanwhile: its answer is the one to show
    fill(results, report(period, days, plays, devices, live));
  }
  await load();
}

function report(period, days, plays, devices, live) {
  const perDay = airedPerDay(days, plays.plays);
  const delivery = deliveryPerItem(plays.plays);
  const clusters = clusterRows(devices, live);
  const completed = plays.summary.completed || 0;
  return [
    h("div", { class: "counts report-counts" },
      h("p", { class: "count" }, h("strong", {}, String(plays.plays.length)), t("rep_plays_total")),
      h("p", { class: "count online" }, h("strong", {}, String(completed)), t("rep_completed")),
      h("p", { class: "count offline" }, h("strong", {}, String(plays.plays.length - completed)),
        t("rep_not_completed"))),
    h("div", { class: "charts report-charts" },
      h("section", { class: "panel" }, columnChart(t("rep_aired_per_day"), perDay, { heading: t("rep_day") })),
      h("section", { class: "panel" }, barChart(t("rep_delivery_per_item"), delivery, { unit: " %", max: 100,
        colour: "#1d4ed8", heading: t("title") })),
      h("section", { class: "panel" }, barChart(t("rep_uptime_per_cluster", { n: days.length }),
        clusters.map((c) => ({ label: c.name, value: c.uptime_pct,
          text: `${c.uptime_pct} % · ${t("rep_online_for", { t: duration(c.online_s) })}` })),
        { unit: " %", max: 100, colour: "#15803d",
        heading: t("device") })),
      h("section", { class: "panel" }, barChart(t("rep_data_per_cluster"),
        clusters.filter((c) => c.data_mb !== null).map((c) => ({ label: c.name, value: c.data_mb })),
        { unit: " MB", colour: "#92400e", heading: t("device") }))),
    downloads(period, perDay, delivery, clusters),
  ];
}

function downloads(period, perDay, delivery, clusters) {
  const query = new URLSearchParams(Object.entries({ ...period, format: "csv" }).filter(([, v]) => v));
  const suffix = `${period.from_date}_${period.to_date}`;
  return h("section", { class: "panel downloads" }, h("h2", {}, t("rep_downloads")),
    h("ul", { class: "plain" },
      h("li", {}, h("a", { href: `/api/v1/reports/plays?${query}`, download: "", class: "download" },
        t("rep_csv_plays"))),
      h("li", {}, csvButton(t("rep_csv_days"), `luot-phat-theo-ngay-${suffix}.csv`,
        ["day", "plays", "completed"],
        perDay.map((d) => [d.label, d.value, d.completed]))),
      h("li", {}, csvButton(t("rep_csv_delivery"), `ty-le-phat-${suffix}.csv`,
        ["bulletin_id", "broadcast_id", "title", "plays", "completed", "completed_pct"],
        delivery.map((d) => [d.bulletin_id, d.broadcast_id, d.label, d.all, d.done, d.value]))),
      h("li", {}, csvButton(t("rep_csv_devices"), `cum-loa-${suffix}.csv`,
        ["device_id", "name", "area_id", "online", "last_seen", "uptime_pct", "online_s", "plays", "completed",
          "data_month_mb", "data_budget_mb"],
        clusters.map((c) => [c.device_id, c.name, c.area_id, c.online, c.last_seen, c.uptime_pct, c.online_s,
          c.plays, c.completed, c.data_mb, c.budget_mb])))));
}

/** Plays per local day of the period (every day, none left out), with how many were complete. */
function airedPerDay(days, rows) {
  const counts = new Map(days.map((day) => [day, { all: 0, done: 0 }]));
  for (const row of rows) {
    const at = row.started_at || row.ended_at;
    const count = at && counts.get(localDay.format(new Date(at)));
    if (!count) continue;
    count.all += 1;
    if (row.outcome === "completed") count.done += 1;
  }
  return days.map((day) => ({ label: day, short: `${Number(day.slice(8))}/${Number(day.slice(5, 7))}`,
    value: counts.get(day).all, completed: counts.get(day).done,
    text: t("rep_plays_of", { done: counts.get(day).done, all: counts.get(day).all }) }));
}

/** The share of plays completed, per bulletin (or per broadcast, for one not from a bulletin). */
function deliveryPerItem(rows) {
  const groups = new Map();
  for (const row of rows) {
    const key = row.bulletin_id ? `b:${row.bulletin_id}`
      : `x:${row.broadcast_id || row.schedule_id || row.occurrence_id}`;
    const group = groups.get(key) || { label: row.title || row.occurrence_id, bulletin_id: row.bulletin_id || "",
      broadcast_id: row.bulletin_id ? "" : row.broadcast_id || "", all: 0, done: 0 };
    group.all += 1;
    if (row.outcome === "completed") group.done += 1;
    groups.set(key, group);
  }
  return [...groups.values()].map((g) => ({ ...g, value: Math.round((1000 * g.done) / g.all) / 10,
    text: `${Math.round((100 * g.done) / g.all)} % (${t("rep_plays_of", { done: g.done, all: g.all })})` }));
}

/** Each cluster's uptime (the devices report) joined with its data used this month (its telemetry). */
function clusterRows(devices, live) {
  const byId = new Map(live.map((d) => [d.id, d]));
  return devices.map((d) => {
    const device = byId.get(d.device_id) || {};
    const bytes = device.telemetry ? device.telemetry.data_month_bytes : null;
    return { device_id: d.device_id, name: d.name, area_id: d.area_id, online: d.online,
      last_seen: d.last_seen_ms ? new Date(d.last_seen_ms).toISOString() : "",
      uptime_pct: d.uptime.uptime_pct, online_s: d.uptime.online_s,
      plays: Object.values(d.plays).reduce((a, b) => a + b, 0), completed: d.plays.completed || 0,
      data_mb: typeof bytes === "number" ? Math.round(bytes / 1e5) / 10 : null,
      budget_mb: device.data_budget_mb ?? "" };
  });
}

function duration(seconds) {
  if (seconds < 90) return t("seconds", { n: Math.round(seconds) });
  if (seconds < 5400) return t("minutes", { n: Math.round(seconds / 60) });
  if (seconds < 129600) return t("hours", { n: Math.round(seconds / 3600) });
  return t("days", { n: Math.round(seconds / 8640) / 10 });
}

function csvButton(label, filename, header, rows) {
  return h("button", { type: "button", class: "download", onclick: () => {
    const text = "\ufeff" + [header, ...rows].map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
    const link = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" })),
      download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    say(t("rep_csv_made", { name: filename }), "ok");
  } }, label);
}

/** One CSV cell: quoted when needed; text that starts like a formula is prefixed with ' (as the API does). */
function cell(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function shiftDay(day, by) {
  return new Date(Date.parse(`${day}T12:00:00Z`) + by * DAY_MS).toISOString().slice(0, 10);
}

function dayList(first, last) {
  if (!first || !last || first > last) return [];
  const days = [];
  for (let day = first; day <= last && days.length <= 93; day = shiftDay(day, 1)) days.push(day);
  return days;
}
