// The clusters: filtered by area and state, with search; each row leads to the cluster's page.
import { call } from "../api.js";
import { field, fill, h } from "../dom.js";
import { ago, t } from "../i18n.js";
import { busy, deviceState, stateBadge, table } from "../ui.js";

/** Render the list of clusters into main. */
export async function render(main) {
  const areas = await call("GET", "/areas");
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  const area = h("select", { name: "area" }, h("option", { value: "" }, t("all_areas")),
    areas.map((a) => h("option", { value: a.id, selected: a.id === query.get("area") }, `${a.name} (${a.id})`)));
  const state = h("select", { name: "state" }, ["", "online", "offline", "playing"].map((s) =>
    h("option", { value: s, selected: s === (query.get("state") || "") }, s ? t(s) : t("all_states"))));
  const search = h("input", { type: "search", name: "q", value: query.get("q") || "" });
  const results = h("div", { "aria-live": "polite" });
  const show = () => busy(null, load);
  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); show(); } },
    field(t("area"), area), field(t("state"), state), field(t("search"), search),
    h("button", { type: "submit" }, t("search")));
  fill(main, h("h1", {}, t("nav_devices")), form, results);
  area.addEventListener("change", show);
  state.addEventListener("change", show);

  async function load() {
    const wanted = state.value;
    const devices = await call("GET", "/devices", undefined, {
      area: area.value, q: search.value.trim(),
      online: wanted === "online" || wanted === "playing" ? "true" : wanted === "offline" ? "false" : "",
    });
    const shown = wanted === "playing" ? devices.filter((d) => deviceState(d) === "playing") : devices;
    fill(results, h("p", {}, t("devices_shown", { n: shown.length })), shown.length ? deviceTable(shown) : null);
  }
  await load();
}

function deviceTable(devices) {
  return table([
    [t("name"), (d) => h("a", { href: `#/devices/${d.id}` }, d.name)],
    ["ID", (d) => d.id],
    [t("area"), (d) => d.area_id],
    [t("state"), (d) => stateBadge(deviceState(d))],
    [t("last_seen"), (d) => d.presence ? ago(d.presence.last_seen) : t("never")],
    [t("signal"), (d) => d.telemetry && d.telemetry.signal_dbm != null ? `${d.telemetry.signal_dbm} dBm` : "–"],
    [t("uptime_7d"), (d) => d.uptime_7d_pct != null ? `${d.uptime_7d_pct.toFixed(1)} %` : "–"],
  ], devices);
}
