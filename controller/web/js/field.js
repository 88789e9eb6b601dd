// The field view: one cluster on a technician's phone at the foot of its pole. Status at a glance,
// the last errors, and the maintenance actions; it refreshes itself every few seconds.
import { call, setCsrf } from "./api.js";
import { actions, ERRORS, eventList, facts } from "./device-parts.js";
import { fill, h } from "./dom.js";
import { language, setLanguage, t } from "./i18n.js";
import { loginForm, say } from "./ui.js";

const REFRESH_MS = 5000;
const deviceId = decodeURIComponent(location.pathname.split("/").pop());
let session = null;
let timer = null;

function header() {
  fill(document.getElementById("menu"),
    h("span", { class: "brand" }, t("app")),
    h("div", { class: "who" },
      h("button", { type: "button", lang: language() === "vi" ? "en" : "vi", "aria-label": t("language_label"),
        onclick: () => { setLanguage(language() === "vi" ? "en" : "vi"); show(); } }, t("language"))));
}

async function show() {
  header();
  const main = document.getElementById("view");
  if (!session) { login(main); return; }
  try {
    const device = await call("GET", `/devices/${encodeURIComponent(deviceId)}`);
    const state = h("div", {});
    const errors = h("div", {});
    const canConfigure = session.permissions.includes("configure_devices");
    fill(main, h("h1", {}, device.name, h("small", {}, ` ${device.id}`)), state,
      h("h2", {}, t("errors")), errors,
      canConfigure ? [h("h2", {}, t("actions")), actions(device, () => refresh(state, errors))] : null);
    await refresh(state, errors, device);
    clearInterval(timer);
    timer = setInterval(() => refresh(state, errors).catch(() => {}), REFRESH_MS);
  } catch (error) {
    fill(main, h("p", { class: "error", role: "alert" }, t("error", { reason: error.message })));
  }
}

/** Fill the status and the last errors again (the actions stay as they are, with their focus). */
async function refresh(state, errors, known) {
  const [device, events] = await Promise.all([
    known ? Promise.resolve(known) : call("GET", `/devices/${encodeURIComponent(deviceId)}`),
    call("GET", `/devices/${encodeURIComponent(deviceId)}/events`, undefined, { limit: 100 })]);
  fill(state, facts(device));
  fill(errors, eventList(events.filter((e) => ERRORS.has(e.type)).slice(0, 5), t("no_errors")));
}

function login(main) {
  fill(main, loginForm(t("field_title", { id: deviceId }), begin));
}

function begin(opened) {
  session = opened;
  setCsrf(opened.csrf_token);
  say("");
  show();
}

call("GET", "/auth/session").catch(() => null).then((opened) => (opened ? begin(opened) : show()));
