// One cluster: its state, a week of telemetry, what it aired, its events, and maintenance actions.
import { call } from "../api.js";
import { fill, h } from "../dom.js";
import { lineChart } from "../charts.js";
import { actions, ERRORS, eventList, facts, presenceEvent, RECEIPTS } from "../device-parts.js";
import { addStrings, t } from "../i18n.js";

addStrings({
  vi: { heard_level_db: "Mức nghe được ở loa (dB)" },
  en: { heard_level_db: "Level heard at the horns (dB)" },
});

const WEEK_MS = 7 * 86400000;

/** Render the device page into main. */
export async function render(main, [deviceId], context) {
  const [device, samples, events, presence, checks] = await Promise.all([
    call("GET", `/devices/${deviceId}`),
    call("GET", `/devices/${deviceId}/telemetry`, undefined, { from_ms: Date.now() - WEEK_MS }),
    call("GET", `/devices/${deviceId}/events`, undefined, { limit: 200 }),
    call("GET", `/devices/${deviceId}/presence`, undefined, { limit: 30 }),
    call("GET", `/devices/${deviceId}/events`, undefined, { type: "heard", limit: 1000 }),
  ]);
  const heardWeek = checks.filter((e) => Date.parse(e.occurred_at) >= Date.now() - WEEK_MS)
    .map((e) => [Date.parse(e.occurred_at),
      e.data.heard === "no" || !Number.isFinite(e.data.level_db) ? null : e.data.level_db]).reverse();
  const happenings = events.filter((e) => !RECEIPTS.has(e.type) || ERRORS.has(e.type))
    .concat(presence.map(presenceEvent)).sort((a, b) => Date.parse(b.occurred_at) - Date.parse(a.occurred_at)).slice(0, 30);
  const canConfigure = context.session.permissions.includes("configure_devices");
  fill(main,
    h("p", {}, h("a", { href: "#/devices" }, `← ${t("nav_devices")}`)),
    h("h1", {}, `${device.name} `, h("small", {}, device.id)),
    h("div", { class: "columns" },
      h("section", { class: "panel" }, h("h2", {}, t("state")), facts(device, checks),
        h("p", {}, h("a", { href: `/d/${device.id}` }, "/d/" + device.id))),
      canConfigure ? h("section", { class: "panel" }, h("h2", {}, t("actions")),
        actions(device, () => render(main, [deviceId], context))) : null),
    h("section", { class: "panel" }, h("h2", {}, t("telemetry_7d")),
      h("div", { class: "charts" },
        lineChart(t("signal_dbm"), samples.map((s) => [s.at_ms, s.signal_dbm])),
        lineChart(t("temperature_c"), samples.map((s) => [s.at_ms, s.cpu_temp_c]), { colour: "#b45309" }),
        lineChart(t("data_mb"), samples.map((s) => [s.at_ms, s.data_month_bytes == null ? null
          : s.data_month_bytes / 1e6]), { colour: "#15803d" }),
        checks.length ? lineChart(t("heard_level_db"), heardWeek, { colour: "#7c3aed" }) : null)),
    h("div", { class: "columns" },
      h("section", { class: "panel" }, h("h2", {}, t("receipts")),
        eventList(events.filter((e) => RECEIPTS.has(e.type)).slice(0, 30), t("no_data"))),
      h("section", { class: "panel" }, h("h2", {}, t("events")),
        eventList(happenings, t("no_data")))));
}
