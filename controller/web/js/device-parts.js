// What the device page and the field view share: the facts at a glance and the maintenance actions.
import { call } from "./api.js";
import { h } from "./dom.js";
import { ago, t, when } from "./i18n.js";
import { confirmDialog, deviceState, say, stateBadge } from "./ui.js";

export const RECEIPTS = new Set(["downloading", "downloaded", "started", "resumed", "completed", "interrupted",
  "preempted", "missed", "skipped", "stopped", "failed"]);
export const ERRORS = new Set(["failed", "missed", "rejected", "security-rejected", "skipped"]);
const REPLY_WAIT_S = 15;

/** The device's state at a glance, as a description list. */
export function facts(device) {
  const telemetry = device.telemetry || {};
  const rows = [
    [t("state"), stateBadge(deviceState(device))],
    [t("last_seen"), device.presence ? ago(device.presence.last_seen) : t("never")],
    [t("now_playing"), telemetry.playing ? `${telemetry.playing} (${telemetry.playing_level || ""})` : t("nothing_playing")],
    [t("signal"), telemetry.signal_dbm != null ? `${telemetry.signal_dbm} dBm` : "–"],
    [t("temperature"), telemetry.cpu_temp_c != null ? `${telemetry.cpu_temp_c.toFixed(1)} °C` : "–"],
    [t("amplifier"), telemetry.amplifier_on == null ? "–" : telemetry.amplifier_on ? t("on") : t("off")],
    [t("volume"), String(telemetry.volume ?? device.volume)],
    [t("data_used"), device.data_used_pct != null ? `${device.data_used_pct.toFixed(0)} %` : "–"],
    [t("uptime_7d"), device.uptime_7d_pct != null ? `${device.uptime_7d_pct.toFixed(1)} %` : "–"],
  ];
  return h("dl", { class: "facts" }, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

/** The events of a device as a list, newest first. */
export function eventList(events, empty) {
  if (!events.length) return h("p", { class: "muted" }, empty);
  return h("ul", { class: "events" }, events.map((e) => h("li", {},
    h("time", {}, when(e.occurred_at)), " ", h("strong", {}, e.type), " ", summary(e.data))));
}

function summary(data) {
  return ["title", "occurrence", "reason", "audio", "detail"].filter((k) => data && data[k])
    .map((k) => `${data[k]}`).join(" · ");
}

/** The maintenance buttons; each asks first, is audited by the server, and shows the device's reply. */
export function actions(device, onDone) {
  const volume = h("input", { type: "number", min: 0, max: 100, step: 5, name: "volume",
    value: String(device.volume), "aria-label": t("volume") });
  const commands = [
    [t("test_tone"), "test-tone", { frequency_hz: 1000, seconds: 2 }],
    [t("amp_on"), "amplifier", { on: true }],
    [t("amp_off"), "amplifier", { on: false }],
    [t("resync"), "resync", {}],
    [t("upload_logs"), "upload-logs", {}],
    [t("reboot"), "reboot", {}],
  ];
  return h("div", { class: "actions" },
    commands.map(([label, name, args]) => h("button", {
      type: "button", class: name === "reboot" ? "danger" : "", onclick: () => command(device, label, name, args),
    }, label)),
    h("form", { class: "inline", onsubmit: async (event) => {
      event.preventDefault();
      if (!(await confirmDialog(t("action_confirm", { action: `${t("set_volume")} ${volume.value}`, device: device.name })))) return;
      await call("PATCH", `/devices/${device.id}/settings`, { volume: Number(volume.value) });
      say(t("action_sent", { action: `${t("set_volume")} ${volume.value}` }), "ok");
      if (onDone) onDone();
    } }, volume, h("button", { type: "submit" }, t("set_volume"))));
}

async function command(device, label, name, args) {
  if (!(await confirmDialog(t("action_confirm", { action: label, device: device.name }),
    { danger: name === "reboot" }))) return;
  try {
    const sent = await call("POST", `/devices/${device.id}/commands`, { name, args });
    say(t("action_sent", { action: label }), "ok");
    const reply = await waitReply(device.id, sent.command_id);
    if (reply) say(t("action_reply", { action: label, status: reply.detail || (reply.ok ? "ok" : "failed") }),
      reply.ok ? "ok" : "error");
  } catch (error) {
    say(t("error", { reason: error.message }), "error");
  }
}

async function waitReply(deviceId, commandId) {
  try {
    return await call("GET", `/devices/${deviceId}/commands/${commandId}`, undefined, { wait_s: REPLY_WAIT_S });
  } catch {
    return null;  // no reply in time: the status line already says the command was sent
  }
}
