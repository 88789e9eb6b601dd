// The console: log in, then one page at a time under the menu, chosen by the address's #/path.
import { ApiError, askEarly, call, setCsrf } from "./api.js";
import { fill, h } from "./dom.js";
import { language, setLanguage, setZone, t } from "./i18n.js";
import { roleName } from "./roles.js";
import { loginForm, say, zoneNote } from "./ui.js";
import { showWaiting, stopWaiting } from "./waiting.js";

// Each page: its address, the module that renders it (loaded when first shown, so one page's fault
// cannot stop the others), its menu entry (if any), the permission it needs.
const ROUTES = [
  { pattern: /^\/$/, href: "#/", view: () => import("./views/dashboard.js"), menu: "nav_dashboard", permission: "view",
    early: ["/fleet/overview", "/schedules", "/bulletins", "/areas/outlines"] },
  { pattern: /^\/devices$/, href: "#/devices", view: () => import("./views/devices.js"), menu: "nav_devices", permission: "view" },
  { pattern: /^\/devices\/([a-z0-9-]+)$/, view: () => import("./views/device.js"), permission: "view" },
  { pattern: /^\/media$/, href: "#/media", view: () => import("./views/media.js"), menu: "nav_media", permission: "view" },
  { pattern: /^\/bulletins$/, href: "#/bulletins", view: () => import("./views/bulletins.js"), menu: "nav_bulletins", permission: "view" },
  { pattern: /^\/schedule$/, href: "#/schedule", view: () => import("./views/schedule.js"), menu: "nav_schedule", permission: "view" },
  { pattern: /^\/broadcast$/, href: "#/broadcast", view: () => import("./views/broadcast.js"), menu: "nav_broadcast", permission: "schedule" },
  { pattern: /^\/live$/, href: "#/live", view: () => import("./views/live.js"), menu: "nav_live", permission: "schedule" },
  { pattern: /^\/emergency$/, href: "#/emergency", view: () => import("./views/emergency.js"), menu: "nav_emergency", permission: "schedule" },
  { pattern: /^\/reports$/, href: "#/reports", view: () => import("./views/reports.js"), menu: "nav_reports", permission: "view" },
  { pattern: /^\/admin(?:\/([a-z-]+))?$/, href: "#/admin", view: () => import("./views/admin.js"), menu: "nav_admin", permission: "manage_areas" },
];

const context = { session: null, cleanup: null };
// Set while this browser has a session: a reload then asks for its page's data (a route's `early`
// paths) beside the session instead of after it. Only a hint: the answers are used only if the
// session is still there.
const SIGNED_IN_KEY = "loalang.signed-in";

/** Whether the logged-in user's role allows permission. */
export function can(permission) {
  return Boolean(context.session && context.session.permissions.includes(permission));
}

function route() {
  const path = (location.hash.replace(/^#/, "") || "/").split("?")[0];
  for (const page of ROUTES) {
    const match = path.match(page.pattern);
    if (match) return { view: page.view, params: match.slice(1), permission: page.permission, early: page.early };
  }
  return null;
}

async function show() {
  if (context.cleanup) { context.cleanup(); context.cleanup = null; }
  const main = document.getElementById("view");
  if (!context.session) { renderLogin(main); return; }
  renderMenu();
  const found = route();
  if (!found) { fill(main, h("p", {}, t("not_found"))); return; }
  if (!can(found.permission)) { fill(main, h("p", {}, t("forbidden"))); return; }
  fill(main, h("p", { class: "loading" }, t("loading")));
  try {
    const view = await found.view();
    context.cleanup = (await view.render(main, found.params, context)) || null;
    main.focus({ preventScroll: true });  // the new page's content is next for the keyboard and readers
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) { await loggedOut(); return; }
    fill(main, h("p", { class: "error", role: "alert" }, t("error", { reason: error.message })));
  }
}

function renderMenu() {
  const here = "#" + ((location.hash.replace(/^#/, "") || "/").split("?")[0]);
  const links = ROUTES.filter((page) => page.menu && can(page.permission)).map((page) =>
    h("li", {}, h("a", { href: page.href, "aria-current": page.href === here ? "page" : null }, t(page.menu))));
  const bulletins = links.map((item) => item.firstChild).find((link) => link.getAttribute("href") === "#/bulletins");
  if (bulletins && can("approve")) showWaiting(bulletins);
  const user = context.session.user;
  fill(document.getElementById("menu"),
    h("nav", { "aria-label": t("main_menu") }, h("ul", {}, links)),
    h("div", { class: "who" },
      h("span", {}, `${user.full_name || user.username} · ${roleName(user.role)}`),
      zoneNote(),
      languageButton(),
      h("button", { type: "button", onclick: logout }, t("logout"))));
  showCurrentEntry(document.getElementById("menu"));
}

/** On a phone the header scrolls sideways: bring the current page's entry into sight. */
function showCurrentEntry(header) {
  const current = header.querySelector("[aria-current=page]");
  if (!current || header.scrollWidth <= header.clientWidth) return;
  header.scrollLeft += current.getBoundingClientRect().left - header.getBoundingClientRect().left - 8;
}

function languageButton() {
  return h("button", {
    type: "button", lang: language() === "vi" ? "en" : "vi", "aria-label": t("language_label"),
    onclick: () => { setLanguage(language() === "vi" ? "en" : "vi"); show(); },
  }, t("language"));
}

function renderLogin(main) {
  fill(document.getElementById("menu"), h("div", { class: "who" }, languageButton()));
  const form = loginForm(t("login_title"), begin);
  fill(main, form);
  form.querySelector("input").focus();
}

function begin(session) {
  context.session = session;
  localStorage.setItem(SIGNED_IN_KEY, "1");
  setCsrf(session.csrf_token);
  setZone(session.timezone);
  say("");
  show();
}

async function logout() {
  try {
    await call("DELETE", "/auth/session");
  } catch {
    // unreachable or already ended: this page forgets the session all the same
  }
  await loggedOut();
}

async function loggedOut() {
  stopWaiting();
  localStorage.removeItem(SIGNED_IN_KEY);
  context.session = null;
  setCsrf(null);
  location.hash = "#/";
  show();
}

async function start() {
  const page = route();
  if (page && page.early && localStorage.getItem(SIGNED_IN_KEY)) askEarly(page.early);
  const session = await call("GET", "/auth/session").catch(() => null);  // null: nobody logged in
  if (session) begin(session);
  else { localStorage.removeItem(SIGNED_IN_KEY); show(); }
}

window.addEventListener("hashchange", show);
start();
