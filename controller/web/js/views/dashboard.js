// The dashboard: clusters online / offline / playing, the map, what is on air, what comes next, the
// live event feed, and the button that stops everything in the user's scope. What is on the air is
// what the clusters play (so its list and the "playing" count always agree), titled, with the names
// of the villages it plays in. The feed's events move the counts, the dots and that list at once
// (drawn at most once a second); everything is read again every minute to catch what events do not
// say (a new cluster). What comes next leaves its list the moment its time comes.
import { call, follow } from "../api.js";
import { fill, h } from "../dom.js";
import { addStrings, ago, t, when } from "../i18n.js";
import { clusterMap, legend } from "../map.js";
import { busy, confirmDialog, deviceState, say } from "../ui.js";
import { eventName, onAirText } from "../device-parts.js";

addStrings({
  vi: { dash_on_air: "bắt đầu phát", dash_done: "đã phát xong", dash_stopped: "đã dừng",
    dash_awaiting_confirmation: "chờ xác nhận", dash_clusters_in: "{n} cụm loa ở {areas}",
    dash_flood: "gửi tin dồn dập bất thường, phần vượt mức bị bỏ (mật khẩu của cụm loa có thể đã lộ)" },
  en: { dash_on_air: "on the air", dash_done: "finished", dash_stopped: "stopped",
    dash_awaiting_confirmation: "awaiting confirmation", dash_clusters_in: "{n} clusters in {areas}",
    dash_flood: "sends far more than a cluster should; its excess is dropped (its password may be stolen)" },
});

const RECONCILE_MS = 60_000;
const DRAW_MS = 1000;
const FEED_LENGTH = 30;
const PLAY_STARTS = new Set(["started", "resumed"]);
const PLAY_ENDS = new Set(["completed", "stopped", "failed", "preempted", "interrupted", "missed", "skipped"]);

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
        context.session.permissions.includes("schedule") ? stopAllButton(() => fleet.reconcile()) : null,
        h("h2", {}, t("next_items")), next),
      h("section", { class: "panel" }, h("h2", {}, t("feed")), feed)));
  const fleet = fleetView({ counts, onAir, list: clusterList(mapList),
    map: clusterMap(mapBox, context.session, { onSelect: (d) => { location.hash = `#/devices/${d.id}`; } }) });
  const coming = upcoming(next, fleet.areaName);

  await Promise.all([fleet.reconcile(), coming.read()]);  // together: one wait on a slow link
  coming.draw();  // only now: the area names come with the clusters' reading
  const timers = [setInterval(() => {
    fleet.reconcile().catch(() => {});
    coming.read().then(coming.draw, () => {});
  }, RECONCILE_MS)];
  const stop = follow("/feed", (event) => {
    fleet.apply(event);
    feed.prepend(h("li", {}, h("time", {}, when(event.occurred_at_ms || event.at_ms)), " ", describe(event)));
    while (feed.children.length > FEED_LENGTH) feed.lastChild.remove();
  });
  if (!feed.children.length) feed.append(h("li", { class: "empty" }, t("feed_empty")));
  return () => { timers.forEach(clearInterval); stop(); fleet.stop(); coming.stop(); };
}

/** The clusters (by id) as the dashboard knows them, drawn into counts, list and map, and what they
 *  play, drawn into onAir: {reconcile(), apply(event), areaName(id), stop()}. */
function fleetView({ counts, onAir, list, map }) {
  const devices = new Map();  // as /fleet/overview answered, shaped as /devices, then changed by the feed
  let names = {};  // area id -> name, for every area in the user's scope
  let meanwhile = null;  // the events that came while a reading was on its way, applied again after it
  const areaName = (id) => names[id] || id;
  const drawDevices = () => {
    const all = [...devices.values()];
    showCounts(counts, all);
    showOnAir(onAir, all, areaName);
    map(all);
    list(all);
  };
  const drawSoon = throttled(drawDevices, DRAW_MS);

  async function reconcile() {
    const events = [];
    meanwhile = events;
    const fleet = await call("GET", "/fleet/overview")
      .finally(() => { if (meanwhile === events) meanwhile = null; });
    devices.clear();
    names = fleet.area_names;
    fleet.ids.forEach((id, i) => devices.set(id, {
      id, name: fleet.names[i], area_id: fleet.area_ids[i], latitude: fleet.latitudes[i],
      longitude: fleet.longitudes[i], online: fleet.online[i], not_heard: fleet.not_heard[i],
      playing: fleet.playing[i] ? { occurrence_id: fleet.playing[i], title: "", level: "",
        ...fleet.on_air[fleet.playing[i]] } : null,
    }));
    events.forEach(apply);
    drawDevices();
  }

  function apply(event) {
    if (meanwhile) meanwhile.push(event);
    if (applyDevice(event)) drawSoon();
  }

  /** A cluster's presence or receipt; whether it changed what is drawn. A cluster not known yet (new)
   *  waits for the next reading: the event does not say where it stands. */
  function applyDevice(event) {
    const device = devices.get(event.device_id);
    if (!device) return false;
    if (event.type === "online" || event.type === "offline") {
      device.online = event.type === "online";  // coming back, it may still be playing what it held
      if (!device.online) device.playing = null;
      return true;
    }
    const receipt = event.type === "receipt" ? event.receipt : null;
    if (PLAY_STARTS.has(receipt)) {
      device.playing = { occurrence_id: event.occurrence, title: event.title, level: event.level };
      return true;
    }
    const endsWhatPlays = device.playing && device.playing.occurrence_id === event.occurrence;
    if (!PLAY_ENDS.has(receipt) || !endsWhatPlays) return false;  // the end of an item cut before: no change
    device.playing = null;
    return true;
  }

  return { reconcile, apply, areaName, stop: () => drawSoon.cancel() };
}

/** fn, called at most once every ms: at once after a rest that long, else when the time is up. */
function throttled(fn, ms) {
  let last = 0;
  let timer = null;
  const run = () => { timer = null; last = Date.now(); fn(); };
  const soon = () => { if (!timer) timer = setTimeout(run, Math.max(0, last + ms - Date.now())); };
  soon.cancel = () => clearTimeout(timer);
  return soon;
}

/** The list beside the map (for the keyboard and screen readers): a link per cluster and its state in
 *  words. Rows are kept and changed in place, so a reader's place in the list survives a redraw. */
function clusterList(element) {
  const rows = new Map();  // id -> {item, link, state}
  return function update(devices) {
    const seen = new Set();
    for (const device of devices) {
      seen.add(device.id);
      const row = rows.get(device.id) || newRow(device.id);
      const state = ` · ${t(deviceState(device))}`;
      if (row.link.textContent !== device.name) row.link.textContent = device.name;
      if (row.state.data !== state) row.state.data = state;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) { row.item.remove(); rows.delete(id); }
    }
  };

  function newRow(id) {
    const row = { link: h("a", { href: `#/devices/${id}` }), state: document.createTextNode("") };
    row.item = h("li", {}, row.link, row.state);
    element.append(row.item);
    rows.set(id, row);
    return row;
  }
}

function showCounts(box, devices) {
  const tally = { online: 0, offline: 0, playing: 0, not_heard: 0 };
  for (const device of devices) {
    tally[device.online ? "online" : "offline"] += 1;
    if (device.online && device.playing) tally.playing += 1;  // as the on-air list counts them
    if (device.online && device.not_heard) tally.not_heard += 1;
  }
  fill(box, ["online", "offline", "playing", "not_heard"].map((state) =>
    h("div", { class: `count ${state}` }, h("strong", {}, String(tally[state])), h("span", {}, t(state)))));
}

/** What the clusters play, one line per occurrence: its level, title, and how many clusters play it
 *  in which villages. Drawn from the same clusters as the counts, so the two always agree. */
function showOnAir(box, devices, areaName) {
  const items = new Map();  // occurrence id -> {playing, devices}
  for (const device of devices) {
    if (!device.online || !device.playing) continue;
    const item = items.get(device.playing.occurrence_id) || { playing: device.playing, devices: [] };
    item.devices.push(device);
    items.set(device.playing.occurrence_id, item);
  }
  if (!items.size) { fill(box, h("p", {}, t("nothing_on_air"))); return; }
  fill(box, h("ul", { class: "plain on-air" }, [...items.values()].map(({ playing, devices: players }) => {
    const areas = [...new Set(players.map((d) => areaName(d.area_id)))].join(", ");
    const level = playing.level ? [h("span", { class: `level ${playing.level}` }, t(`lv_${playing.level}`)), " "] : null;
    return h("li", {}, level, onAirText({ ...playing, level: "" }),
      ` · ${t("dash_clusters_in", { n: players.length, areas })}`);
  })));
}

/** What comes next from the schedules (read again every minute), drawn into box; an item leaves the
 *  list the moment its time comes (it is on the air then, or missed): {read(), draw(), stop()}.
 *  read() does not draw: before the first reading of the clusters an area has no name yet. */
function upcoming(box, areaName) {
  let plays = [];
  let timer = null;
  const where = (play) => play.areas.map(areaName).concat(play.devices).join(", ");  // names as known now
  function draw() {
    const now = Date.now();
    const shown = plays.filter((p) => p.at > now).slice(0, 8);
    fill(box, shown.length ? h("ul", { class: "plain next" }, shown.map((p) =>
      h("li", {}, h("time", {}, when(p.at)), ` ${p.title} · ${where(p)}`))) : h("p", {}, t("nothing_next")));
    clearTimeout(timer);
    if (shown.length) timer = setTimeout(draw, Math.min(shown[0].at - now, RECONCILE_MS));
  }
  async function read() {
    const [schedules, bulletins] = await Promise.all([call("GET", "/schedules"), call("GET", "/bulletins")]);
    const titles = Object.fromEntries(bulletins.map((b) => [b.id, b.title]));
    plays = schedules.filter((s) => s.active).flatMap((s) => s.next_plays_ms.slice(0, 3).map((at) => ({
      at, title: titles[s.bulletin_id] || t("untitled"),
      areas: s.area_ids, devices: s.device_ids,
    }))).sort((a, b) => a.at - b.at);
  }
  return { read, draw, stop: () => clearTimeout(timer) };
}

/** The stop-everything button; onStopped is called once it is done. */
function stopAllButton(onStopped) {
  const button = h("button", {
    type: "button", class: "danger big", onclick: async () => {
      if (!(await confirmDialog(t("stop_all_confirm"), { danger: true, confirmLabel: t("stop_all") }))) return;
      await busy(button, async () => {
        const result = await call("POST", "/broadcasts/stop-all", {});
        const stopped = t("stopped_n", { n: result.broadcasts_withdrawn.length });
        say(result.broker_reached ? stopped : `${stopped} ${t("stopped_broker_away")}`,
          result.broker_reached ? "ok" : "error");
        onStopped();
      });
    },
  }, t("stop_all"));
  return button;
}

function describe(event) {
  const text = { online: t("online"), offline: t("offline") }[event.type];
  if (text) return `${event.device_name || event.device_id}: ${text}`;
  if (event.type === "receipt") {
    return [`${event.device_name || event.device_id}: ${eventName(event.receipt)}`, event.title].filter(Boolean).join(" · ");
  }
  if (event.type === "broadcast") return `«${event.title}» ${t(`dash_${event.status}`)}`;
  if (event.type === "security") return `${event.device_name || event.device_id}: ${t("dash_flood")}`;
  return `${event.type} ${ago(event.at_ms)}`;
}
