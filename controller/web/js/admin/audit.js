// The audit log: who did what to what, newest first, a page at a time (older pages with before_id).
import { call } from "../api.js";
import { fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { table } from "../ui.js";
import { redraw } from "./parts.js";

addStrings({
  vi: {
    adm_audit_log: "Nhật ký thao tác", adm_target: "Đối tượng", adm_actor: "Người thực hiện",
    adm_action: "Thao tác", adm_detail: "Chi tiết", adm_older: "Xem các mục cũ hơn",
    adm_newest: "Về mục mới nhất", adm_audit_page: "Mục {first} – {last}", adm_audit_end: "Hết nhật ký.",
    adm_audit_empty: "Nhật ký trống." },
  en: {
    adm_audit_log: "Audit log", adm_target: "Target", adm_actor: "Who", adm_action: "Action",
    adm_detail: "Detail", adm_older: "Older entries", adm_newest: "Back to the newest",
    adm_audit_page: "Entries {first} – {last}", adm_audit_end: "The end of the log.",
    adm_audit_empty: "The log is empty." },
});

const PAGE = 50;

/** Render the audit log section into body (a page older than beforeId, when given). */
export async function render(body, context, beforeId = null) {
  const entries = await call("GET", "/audit", undefined, { limit: PAGE, before_id: beforeId });
  const older = entries.length === PAGE ? entries[entries.length - 1].id : null;
  const again = redraw(render, body, context);
  fill(body, h("section", { class: "panel" }, h("h2", {}, t("adm_audit_log")),
    entries.length ? [
      h("p", { class: "muted" }, t("adm_audit_page", { first: entries[0].id, last: entries[entries.length - 1].id })),
      table([
        [t("when"), (e) => h("time", { datetime: e.at }, when(e.at))], [t("adm_actor"), (e) => e.actor],
        [t("adm_action"), (e) => h("code", {}, e.action)], [t("adm_target"), (e) => e.targets.join(", ")],
        [t("adm_detail"), (e) => Object.entries(e.detail || {}).map(([k, v]) => `${k}=${format(v)}`).join(" · ")],
      ], entries),
    ] : h("p", { class: "muted" }, t("adm_audit_empty")),
    h("div", { class: "buttons pager" },
      beforeId ? h("button", { type: "button", onclick: () => again() }, t("adm_newest")) : null,
      older ? h("button", { type: "button", onclick: () => again(older) }, t("adm_older"))
        : h("p", { class: "muted" }, t("adm_audit_end")))));
}

function format(value) {
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}
