// The dashboard: clusters online / offline / playing, the map, what is on air, what comes next, the
// live event feed, and the button that stops everything in the user's scope.
import { call, follow } from "../api.js";
import { fill, h } from "../dom.js";
import { ago, t, when } from "../i18n.js";
import { clusterMap, legend } from "../map.js";
import { confirmDialog, deviceState, say } from "../ui.js";

const REFRESH_MS = 5000;
const FEED_LENGTH = 30;

/** Render the dashboard into main; returns the function that stops its refreshing. */
export async function render(main, _params, context) {
  const counts = h("div", { class: "counts", role: "group", "aria-label": t("clusters") });
  const onAir = h("div", {});
  const next = h("div", {});
  const feed = h("ol", { class: "feed", "aria-live": "polite", "aria-relevant": "additions" });
  const mapBox = h("div", { class: "map", role: "region", "aria-label": t("map") });
  const mapList = h("ul", { class: "map-list" });
  fill(main,
    h("h1", {}, t("nav_dashboard")),
    counts,
    h("div", { class: "columns" },
      h("section", { class: "panel wide" }, h("h2", {}, t("map")), mapBox, legend(),
        h("details", {}, h("summary", {}, t("map_list")), mapList)),
      h("section", { class: "panel" },
        h("h2", {}, t("on_air")), onAir,
        context.session.permissions.includes("schedule") ? stopAllButton(context) : null,
        h("h2", {}, t("next_items")), next),
      h("section", { class: "panel" }, h("h2", {}, t("feed")), feed)));
  const update = clusterMap(mapBox, context.session, { onSelect: (d) => { location.hash = `#/devices/${d.id}`; } });

  async function refresh() {
    const [devices, broadcasts] = await Promise.all([
      call("GET", "/devices", undefined, { limit: 5000 }), call("GET", "/broadcasts")]);
    showCounts(counts, devices);
    update(devices);
    fill(mapList, devices.map((d) => h("li", {}, h("a", { href: `#/devices/${d.id}` }, d.name), ` · ${t(deviceState(d))}`)));
    const live = broadcasts.filter((b) => b.status === "on_air");
    fill(onAir, live.length ? h("ul", { class: "plain" }, live.map(onAirItem)) : h("p", {}, t("nothing_on_air")));
  }
  await refresh();
  fill(next, await upcoming());
  const timer = setInterval(() => refresh().catch(() => {}), REFRESH_MS);
  const stop = follow("/feed", (event) => {
    feed.prepend(h("li", {}, h("time", {}, when(event.at_ms)), " ", describe(event)));
    while (feed.children.length > FEED_LENGTH) feed.lastChild.remove();
  });
  if (!feed.children.length) feed.append(h("li", { class: "empty" }, t("feed_empty")));
  return () => { clearInterval(timer); stop(); };
}

function showCounts(box, devices) {
  const tally = { online: 0, offline: 0, playing: 0 };
  for (const device of devices) {
    const state = deviceState(device);
    tally[state] += 1;
    if (state === "playing") tally.online += 1;
  }
  fill(box, ["online", "offline", "playing"].map((state) =>
    h("div", { class: `count ${state}` }, h("strong", {}, String(tally[state])), h("span", {}, t(state)))));
}

function onAirItem(broadcast) {
  return h("li", {}, h("span", { class: `level ${broadcast.level}` }, t(`lv_${broadcast.level}`)), " ", broadcast.title,
    " · ", (broadcast.area_ids || []).concat(broadcast.device_ids || []).join(", "));
}

async function upcoming() {
  const [schedules, bulletins] = await Promise.all([call("GET", "/schedules"), call("GET", "/bulletins")]);
  const titles = Object.fromEntries(bulletins.map((b) => [b.id, b.title]));
  const plays = schedules.filter((s) => s.active).flatMap((s) => s.next_plays_ms.slice(0, 3).map((at) => ({
    at, title: titles[s.bulletin_id] || s.bulletin_id, where: s.area_ids.concat(s.device_ids).join(", "),
  }))).sort((a, b) => a.at - b.at).slice(0, 8);
  if (!plays.length) return h("p", {}, t("nothing_next"));
  return h("ul", { class: "plain" }, plays.map((p) => h("li", {}, h("time", {}, when(p.at)), ` ${p.title} · ${p.where}`)));
}

function stopAllButton(context) {
  return h("button", {
    type: "button", class: "danger big", onclick: async () => {
      if (!(await confirmDialog(t("stop_all_confirm"), { danger: true, confirmLabel: t("stop_all") }))) return;
      const result = await call("POST", "/broadcasts/stop-all", {});
      say(t("stopped_n", { n: result.broadcasts_withdrawn.length }), "ok");
    },
  }, t("stop_all"));
}

function describe(event) {
  const text = { online: t("online"), offline: t("offline") }[event.type];
  if (text) return `${event.device_name || event.device_id}: ${text}`;
  if (event.type === "receipt") return `${event.device_name || event.device_id}: ${event.receipt} · ${event.title || ""}`;
  if (event.type === "broadcast") return `${t("on_air")}: ${event.title} (${event.status})`;
  return `${event.type} ${ago(event.at_ms)}`;
}
