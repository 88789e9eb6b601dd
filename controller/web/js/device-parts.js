// What the device page and the field view share: the facts at a glance and the maintenance actions.
import { call } from "./api.js";
import { h } from "./dom.js";
import { addStrings, ago, t, when } from "./i18n.js";
import { busy, confirmDialog, deviceState, say, stateBadge } from "./ui.js";

export const RECEIPTS = new Set(["downloading", "downloaded", "started", "resumed", "completed", "interrupted",
  "preempted", "missed", "skipped", "stopped", "failed", "heard"]);
export const ERRORS = new Set(["failed", "missed", "rejected", "security-rejected", "skipped"]);
const REPLY_WAIT_S = 15;

addStrings({
  vi: { ev_downloading: "Đang tải về", ev_downloaded: "Đã tải về", "ev_download-failed": "Tải về lỗi",
    ev_started: "Bắt đầu phát", ev_resumed: "Phát tiếp", ev_completed: "Phát xong", ev_interrupted: "Bị ngắt",
    ev_preempted: "Nhường chương trình ưu tiên", ev_missed: "Lỡ giờ phát", ev_skipped: "Bỏ qua",
    ev_stopped: "Đã dừng", ev_failed: "Lỗi phát", ev_rejected: "Từ chối lệnh",
    "ev_security-rejected": "Chặn tin nhắn không hợp lệ", ev_online: "Trực tuyến", ev_offline: "Mất kết nối",
    pr_birth: "đã kết nối", pr_will: "kết nối bị đứt", pr_silent: "không còn tin báo",
    no_modem: "không có modem (mạng qua {iface})", data_month: "{mb} MB tháng này",
    data_of_budget: "{mb} MB tháng này ({pct} % hạn mức)", untitled: "(không có tiêu đề)",
    sim: "Thẻ SIM", sim_ready: "sẵn sàng", sim_missing: "không có thẻ", sim_locked: "bị khoá (cần mã PIN)",
    sim_unknown: "không rõ", agent_version: "Phiên bản phần mềm",
    "ev_update-restarting": "Khởi động lại vào phiên bản mới", "ev_update-completed": "Cập nhật xong",
    "ev_update-refused": "Từ chối bản cập nhật", "ev_update-failed": "Cập nhật lỗi",
    "ev_update-rolled-back": "Trở về phiên bản trước", ev_heard: "Kiểm tra nghe", hearing: "Nghe ở loa",
    hearing_none: "không có micrô kiểm tra", hearing_ok: "nghe rõ lần phát lúc {when} (mức {level} dB)",
    hearing_silent: "Âm ly hoặc loa: không đo được tiếng từ {since}",
    hearing_other: "Loa phát âm thanh khác chương trình từ {since}" },
  en: { ev_downloading: "Downloading", ev_downloaded: "Downloaded", "ev_download-failed": "Download failed",
    ev_started: "Started", ev_resumed: "Resumed", ev_completed: "Completed", ev_interrupted: "Interrupted",
    ev_preempted: "Gave way to a priority item", ev_missed: "Missed", ev_skipped: "Skipped",
    ev_stopped: "Stopped", ev_failed: "Failed", ev_rejected: "Refused a command",
    "ev_security-rejected": "Blocked an invalid message", ev_online: "Online", ev_offline: "Offline",
    pr_birth: "connected", pr_will: "connection lost", pr_silent: "no word from it",
    no_modem: "no modem (network through {iface})", data_month: "{mb} MB this month",
    data_of_budget: "{mb} MB this month ({pct} % of the allowance)", untitled: "(untitled)",
    sim: "SIM card", sim_ready: "ready", sim_missing: "missing", sim_locked: "locked (needs its PIN)",
    sim_unknown: "unknown", agent_version: "Software version",
    "ev_update-restarting": "Restarting into a new version", "ev_update-completed": "Update completed",
    "ev_update-refused": "Refused an update", "ev_update-failed": "Update failed",
    "ev_update-rolled-back": "Back on the previous version", ev_heard: "Hearing check",
    hearing: "Heard at the horns", hearing_none: "no microphone to check",
    hearing_ok: "the play at {when} was heard (level {level} dB)",
    hearing_silent: "Amplifier or speakers: no sound measured since {since}",
    hearing_other: "The horns sound something else since {since}" },
});

/** The device's state at a glance, as a description list (with what its microphone heard, when its
 *  events are given). */
export function facts(device, events = null) {
  const telemetry = device.telemetry || {};
  const rows = [
    [t("state"), stateBadge(deviceState(device))],
    [t("area"), device.area_name || device.area_id],
    [t("last_seen"), device.presence ? ago(device.presence.last_seen) : t("never")],
    [t("now_playing"), device.playing ? onAirText(device.playing) : t("nothing_playing")],
    [t("signal"), signalText(telemetry)],
    [t("sim"), telemetry.sim_state ? simText(telemetry.sim_state) : "–"],
    [t("agent_version"), device.presence?.agent_version || "–"],
    [t("temperature"), telemetry.cpu_temp_c != null ? `${telemetry.cpu_temp_c.toFixed(1)} °C` : "–"],
    [t("amplifier"), telemetry.amplifier_on == null ? "–" : telemetry.amplifier_on ? t("on") : t("off")],
    events ? [t("hearing"), hearingText(events)] : null,
    [t("volume"), String(telemetry.volume ?? device.volume)],
    [t("data_used"), dataText(device, telemetry)],
    [t("uptime_7d"), device.uptime_7d_pct != null ? `${device.uptime_7d_pct.toFixed(1)} %` : "–"],
  ];
  return h("dl", { class: "facts" }, rows.filter(Boolean).map(([term, value]) => [h("dt", {}, term),
    h("dd", {}, value)]));
}

/** What the microphone at the horns heard of the latest plays (events newest first), in words: since
 *  when nothing of them (or another sound) was heard, or when the latest was heard and how loud. */
export function hearingText(events) {
  const checks = events.filter((e) => e.type === "heard" && e.data && ["yes", "no"].includes(e.data.heard));
  if (!checks.length) return t("hearing_none");
  const latest = checks[0];
  if (latest.data.heard === "yes") {
    const level = Number.isFinite(latest.data.level_db) ? Math.round(latest.data.level_db) : "?";
    return t("hearing_ok", { when: when(latest.occurred_at), level });
  }
  let since = latest;
  for (const check of checks) {
    if (check.data.heard !== "no" || check.data.reason !== latest.data.reason) break;
    since = check;
  }
  const words = latest.data.reason === "other_sound" ? "hearing_other" : "hearing_silent";
  return t(words, { since: when(since.occurred_at) });
}

/** What plays, in words: its title and level (an id never shows). */
export function onAirText(playing) {
  const level = playing.level ? ` (${t(`lv_${playing.level}`)})` : "";
  return `${playing.title || t("untitled")}${level}`;
}

/** The modem's signal with its operator and technology, or the network the cluster uses when it has
 *  no modem. */
function signalText(telemetry) {
  if (telemetry.signal_dbm == null) return telemetry.iface ? t("no_modem", { iface: telemetry.iface }) : "–";
  const network = [telemetry.modem_operator, telemetry.modem_technology?.toUpperCase()].filter(Boolean);
  return [`${telemetry.signal_dbm} dBm`, ...network].join(" · ");
}

/** The SIM's state in words (a state the console does not know is shown as the board said it). */
function simText(state) {
  const words = t(`sim_${state}`);
  return words === `sim_${state}` ? state : words;
}

/** This month's data use (and its share of the allowance, where one is set). */
function dataText(device, telemetry) {
  if (telemetry.data_month_bytes == null) return "–";
  const mb = (telemetry.data_month_bytes / 1e6).toFixed(1);
  return device.data_used_pct != null ? t("data_of_budget", { mb, pct: device.data_used_pct.toFixed(0) })
    : t("data_month", { mb });
}

/** The events of a device as a list, newest first. */
export function eventList(events, empty) {
  if (!events.length) return h("p", { class: "muted" }, empty);
  return h("ul", { class: "events" }, events.map((e) => h("li", {},
    h("time", {}, when(e.occurred_at)), " ", h("strong", {}, eventName(e.type)), " ", summary(e))));
}

/** A presence change (from /devices/{id}/presence) as an event of the list. */
export function presenceEvent(change) {
  const reason = t(`pr_${change.reason}`);
  return { type: change.online ? "online" : "offline", occurred_at: new Date(change.at_ms).toISOString(),
    data: { reason: reason === `pr_${change.reason}` ? change.reason : reason } };
}

/** An event's type in words (the type itself when it has none). */
export function eventName(type) {
  const words = t(`ev_${type}`);
  return words === `ev_${type}` ? type : words;
}

function summary(event) {
  const data = event.data || {};
  const title = event.title || data.title;
  return [title, title ? null : data.occurrence, data.version, data.reason, data.detail].filter(Boolean).join(" · ");
}

/** The maintenance buttons; each asks first, is audited by the server, and shows the device's reply. */
export function actions(device, onDone) {
  const volume = h("input", { type: "number", min: 0, max: 100, step: 1, name: "volume", required: true,
    value: String(device.volume ?? ""), "aria-label": t("volume"),
    oninput: () => volume.setCustomValidity("") });
  const setVolume = h("button", { type: "submit" }, t("set_volume"));
  const commands = [
    [t("test_tone"), "test-tone", { frequency_hz: 1000, seconds: 2 }],
    [t("chime"), "chime", {}],
    [t("amp_on"), "amplifier", { on: true }],
    [t("amp_off"), "amplifier", { on: false }],
    [t("resync"), "resync", {}],
    [t("upload_logs"), "upload-logs", {}],
    [t("reboot"), "reboot", {}],
  ];
  return h("div", { class: "actions" },
    commands.map(([label, name, args]) => h("button", {
      type: "button", class: name === "reboot" ? "danger" : "",
      onclick: (event) => command(device, label, name, args, event.currentTarget),
    }, label)),
    h("form", { class: "inline", novalidate: true, onsubmit: async (event) => {
      event.preventDefault();
      const level = wantedVolume(volume);
      if (level === null) return;
      const action = t("set_volume_to", { level });
      if (!(await confirmDialog(t("action_confirm", { action, device: device.name })))) return;
      await busy(setVolume, async () => {
        await call("PATCH", `/devices/${device.id}/settings`, { volume: level });
        say(t("action_sent", { action }), "ok");
        if (onDone) await onDone();
      });
    } }, volume, setVolume));
}

/** The volume typed (a whole number from 0 to 100), or null after saying at the field what is wrong:
 *  an empty field is never read as 0. */
function wantedVolume(input) {
  const level = input.valueAsNumber;
  if (input.value.trim() === "" || !Number.isInteger(level) || level < 0 || level > 100) {
    input.setCustomValidity(t("volume_invalid"));
    input.reportValidity();
    return null;
  }
  input.setCustomValidity("");
  return level;
}

async function command(device, label, name, args, button) {
  if (!(await confirmDialog(t("action_confirm", { action: label, device: device.name }),
    { danger: name === "reboot" }))) return;
  await busy(button, async () => {
    const sent = await call("POST", `/devices/${device.id}/commands`, { name, args });
    say(t("action_sent", { action: label }), "ok");
    const reply = await waitReply(device.id, sent.command_id);
    if (reply) say(t("action_reply", { action: label, status: reply.detail || (reply.ok ? "ok" : "failed") }),
      reply.ok ? "ok" : "error");
  });
}

async function waitReply(deviceId, commandId) {
  try {
    return await call("GET", `/devices/${deviceId}/commands/${commandId}`, undefined, { wait_s: REPLY_WAIT_S });
  } catch {
    return null;  // no reply in time: the status line already says the command was sent
  }
}
