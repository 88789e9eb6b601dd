// The field view: one cluster on a technician's phone at the foot of its pole. Status at a glance
// (what plays, by title, from the moment it starts), the recent plays and errors, and the maintenance
// actions. It follows the event feed, so a play's start and end show at once, and reads everything
// again every few seconds besides.
import { call, follow, setCsrf } from "./api.js";
import { actions, ERRORS, eventList, facts } from "./device-parts.js";
import { fill, h } from "./dom.js";
import { addStrings, language, setLanguage, setZone, t } from "./i18n.js";
import { loginForm, say, zoneNote } from "./ui.js";

addStrings({
  vi: { recent_plays: "Đã phát gần đây", no_plays: "Chưa phát gì." },
  en: { recent_plays: "Recent plays", no_plays: "Nothing played yet." },
});

const REFRESH_MS = 5000;
const PLAYS = new Set(["started", "resumed", "completed", "interrupted", "preempted", "missed", "skipped",
  "stopped", "failed"]);
const LIST_LENGTH = 5;
const deviceId = decodeURIComponent(location.pathname.split("/").pop());
let session = null;
let timer = null;
let unfollow = null;
let readings = 0;  // the latest reading is drawn; an older one that answers late is not

function header() {
  fill(document.getElementById("menu"),
    h("span", { class: "brand" }, t("app")),
    h("div", { class: "who" },
      session ? zoneNote() : null,
      h("button", { type: "button", lang: language() === "vi" ? "en" : "vi", "aria-label": t("language_label"),
        onclick: () => { setLanguage(language() === "vi" ? "en" : "vi"); show(); } }, t("language"))));
}

async function show() {
  header();
  const main = document.getElementById("view");
  if (!session) { login(main); return; }
  try {
    const device = await call("GET", `/devices/${encodeURIComponent(deviceId)}`);
    const parts = { state: h("div", {}), plays: h("div", {}), errors: h("div", {}) };
    const canConfigure = session.permissions.includes("configure_devices");
    fill(main, h("h1", {}, device.name, h("small", {}, ` ${device.id}`)), parts.state,
      h("h2", {}, t("recent_plays")), parts.plays,
      h("h2", {}, t("errors")), parts.errors,
      canConfigure ? [h("h2", {}, t("actions")), actions(device, () => refresh(parts))] : null);
    await refresh(parts, device);
    keepFresh(parts);
  } catch (error) {
    fill(main, h("p", { class: "error", role: "alert" }, t("error", { reason: error.message })));
  }
}

/** Read again every few seconds, and at once when the feed tells of this cluster. */
function keepFresh(parts) {
  clearInterval(timer);
  timer = setInterval(() => refresh(parts).catch(() => {}), REFRESH_MS);
  if (unfollow) unfollow();
  unfollow = follow("/feed", (event) => {
    if (event.device_id === deviceId) refresh(parts).catch(() => {});
  });
}

/** Fill the status, the recent plays and the last errors again (the actions stay as they are, with
 *  their focus). */
async function refresh(parts, known) {
  const reading = ++readings;
  const [device, events] = await Promise.all([
    known ? Promise.resolve(known) : call("GET", `/devices/${encodeURIComponent(deviceId)}`),
    call("GET", `/devices/${encodeURIComponent(deviceId)}/events`, undefined, { limit: 100 })]);
  if (reading !== readings) return;
  fill(parts.state, facts(device, events));
  fill(parts.plays, eventList(events.filter((e) => PLAYS.has(e.type)).slice(0, LIST_LENGTH), t("no_plays")));
  fill(parts.errors, eventList(events.filter((e) => ERRORS.has(e.type)).slice(0, LIST_LENGTH), t("no_errors")));
}

function login(main) {
  fill(main, loginForm(t("field_title", { id: deviceId }), begin));
}

function begin(opened) {
  session = opened;
  setCsrf(opened.csrf_token);
  setZone(opened.timezone);
  say("");
  show();
}

call("GET", "/auth/session").catch(() => null).then((opened) => (opened ? begin(opened) : show()));
