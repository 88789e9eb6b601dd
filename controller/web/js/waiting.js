// What waits for an approver: the number of bulletins waiting for approval, as a badge on the menu's
// Bulletins entry. Counted when the menu is drawn, when a page says bulletins changed, and every
// POLL_MS while the console is open.
import { call } from "./api.js";
import { fill, h } from "./dom.js";
import { addStrings, t } from "./i18n.js";

addStrings({
  vi: { wait_count: "{n} bản tin chờ duyệt" },
  en: { wait_count: "{n} bulletins waiting for approval" },
});

const POLL_MS = 30_000;
export const CHANGED = "loalang:bulletins-changed";  // a page changed a bulletin's state
let timer = null;

/** Keep the badge inside link (the menu's Bulletins entry) up to date; stops with stopWaiting(). */
export function showWaiting(link) {
  const badge = h("span", { class: "waiting", hidden: true });
  link.append(" ", badge);
  stopWaiting();
  const count = async () => {
    const pending = await call("GET", "/bulletins", undefined, { status: "pending" }).catch(() => null);
    if (pending === null || !badge.isConnected) return;
    badge.hidden = pending.length === 0;
    fill(badge, h("span", { "aria-hidden": "true" }, String(pending.length)),
      h("span", { class: "visually-hidden" }, t("wait_count", { n: pending.length })));
  };
  const recount = () => { count(); };
  window.addEventListener(CHANGED, recount);
  timer = { interval: setInterval(recount, POLL_MS), recount };
  count();
}

/** Stop counting (after logging out, or before the menu is drawn again). */
export function stopWaiting() {
  if (!timer) return;
  clearInterval(timer.interval);
  window.removeEventListener(CHANGED, timer.recount);
  timer = null;
}

/** Say that bulletins changed (submitted, approved, rejected), so the badge counts again. */
export function bulletinsChanged() {
  window.dispatchEvent(new Event(CHANGED));
}
