// What the administration sections share: role names, area choices, confirmed changes, drawing a
// section again.
import { call } from "../api.js";
import { field, h } from "../dom.js";
import { addStrings, t } from "../i18n.js";
import { roleName } from "../roles.js";
import { busy, confirmDialog, say } from "../ui.js";

export { roleName };

addStrings({
  vi: {
    adm_role: "Vai trò", adm_whole_tree: "Toàn bộ hệ thống",
    adm_active: "Đang hoạt động", adm_disabled: "Đã khoá", adm_done: "Đã xong: {what}", adm_copy: "Chép",
    adm_copied: "Đã chép vào bộ nhớ tạm.", adm_copy_failed: "Không chép được, hãy chọn và chép bằng tay.",
    adm_edit: "Sửa", adm_actions_col: "Thao tác" },
  en: {
    adm_role: "Role", adm_whole_tree: "The whole system", adm_active: "Active",
    adm_disabled: "Disabled", adm_done: "Done: {what}", adm_copy: "Copy",
    adm_copied: "Copied to the clipboard.", adm_copy_failed: "Could not copy; select it and copy by hand.",
    adm_edit: "Edit", adm_actions_col: "Actions" },
});

export const USER_ROLES = ["operator", "approver", "technician", "viewer", "admin"];

/** A select of roles, value chosen. */
function roleSelect(roles, value, name = "role") {
  return h("select", { name }, roles.map((r) => h("option", { value: r, selected: r === value }, roleName(r))));
}

/** The area names of areas by id: a function id → name ("the whole system" for no id). */
export function areaNames(areas) {
  const names = new Map(areas.map((a) => [a.id, a.name]));
  return (id) => (id ? names.get(id) || id : t("adm_whole_tree"));
}

/** An account's role and area, labelled: {fields, focus(), value(): {role, area_id}, words(): {role, area}}.
 *  A new account (no areaId) starts at the whole system when whole, else at the first area. */
export function roleAndArea(roles, role, areas, { areaId, whole = false } = {}) {
  const roleChoice = roleSelect(roles, role);
  const first = whole ? "" : areas[0]?.id;
  const area = areaSelect(areas, areaId === undefined ? first : areaId, { whole });
  const name = areaNames(areas);
  return {
    fields: [field(t("adm_role"), roleChoice), field(t("area"), area)],
    focus: () => roleChoice.focus(),
    value: () => ({ role: roleChoice.value, area_id: area.value || null }),
    words: () => ({ role: roleName(roleChoice.value), area: name(area.value || null) }),
  };
}

/** A select of areas (indented by depth); with whole, a first choice "the whole system" (value ""). */
export function areaSelect(areas, value, { name = "area_id", whole = false } = {}) {
  const depth = depths(areas);
  return h("select", { name },
    whole ? h("option", { value: "", selected: !value }, t("adm_whole_tree")) : null,
    treeOrder(areas).map((a) => h("option", { value: a.id, selected: a.id === value },
      `${"\u2003".repeat(depth.get(a.id) || 0)}${a.name} (${a.id})`)));
}

/** Each area's depth below the highest visible one. */
function depths(areas) {
  const parent = new Map(areas.map((a) => [a.id, a.parent_id]));
  const depth = new Map();
  for (const a of areas) {
    let d = 0;
    for (let p = a.parent_id; p && parent.has(p) && d < 20; p = parent.get(p)) d += 1;
    depth.set(a.id, d);
  }
  return depth;
}

/** Areas in tree order: each followed by the areas below it. */
function treeOrder(areas) {
  const children = new Map();
  const ids = new Set(areas.map((a) => a.id));
  for (const a of areas) {
    const key = a.parent_id && ids.has(a.parent_id) ? a.parent_id : "";
    children.set(key, [...(children.get(key) || []), a]);
  }
  const ordered = [];
  const visit = (key) => (children.get(key) || []).forEach((a) => { ordered.push(a); visit(a.id); });
  visit("");
  return ordered;
}

/** Ask first, then call the API; says what happened; resolves the answer, or null (refused or failed).
 *  With form, an error about one field is shown next to that field of the form. */
export async function confirmed(question, method, path, body, { danger = false, what = question, form = null } = {}) {
  if (!(await confirmDialog(question, { danger }))) return null;
  return busy(null, async () => {
    const answer = await call(method, path, body);
    say(t("adm_done", { what }), "ok");
    return answer ?? true;
  }, "error", form);
}

/** A function that draws a section again, render(body, context, ...its arguments); a failure is said. */
export function redraw(render, body, context) {
  return (...extra) => busy(null, () => render(body, context, ...extra));
}

/** A secret shown once (a claim code, a key): large, selectable, with a copy button. */
export function secretBox(heading, secret, note, extra) {
  const value = h("output", { class: "secret-value" }, breakableAtDashes(secret));
  return h("div", { class: "secret", role: "region", "aria-label": heading },
    h("h3", {}, heading), value,
    h("button", { type: "button", onclick: () => copy(secret) }, t("adm_copy")),
    note ? h("p", { class: "hint" }, note) : null, extra || null);
}

/** A claim code's groups, each kept whole on a narrow screen (a <wbr> is not copied with the text). */
function breakableAtDashes(text) {
  return text.split("-").flatMap((part, index) => (index ? ["-", h("wbr"), part] : [part]));
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    say(t("adm_copied"), "ok");
  } catch {
    say(t("adm_copy_failed"), "error");
  }
}

/** An account's state as a word (never colour alone). */
export function accountState(account) {
  return h("span", { class: account.disabled ? "badge offline" : "badge online" },
    t(account.disabled ? "adm_disabled" : "adm_active"));
}
