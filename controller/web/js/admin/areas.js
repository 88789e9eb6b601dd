// Administration of areas: the tree; choose an area to rename it, set its quiet hours, its approval
// policy and how an emergency is confirmed there, or to add an area below it. Below, the import of the
// areas' administrative outlines (a GeoJSON file) that the map draws.
import { ApiError, call } from "../api.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t } from "../i18n.js";
import { say } from "../ui.js";
import { confirmed, redraw } from "./parts.js";

addStrings({
  vi: {
    adm_area_tree: "Cây khu vực", adm_choose_area: "Chọn một khu vực trong cây để sửa hoặc thêm khu vực con.",
    adm_area_level: "Cấp", adm_level_province: "Tỉnh", adm_level_region: "Huyện / vùng",
    adm_level_commune: "Xã", adm_level_village: "Thôn / bản", adm_parent: "Thuộc",
    adm_quiet_start: "Giờ yên lặng bắt đầu", adm_quiet_end: "Giờ yên lặng kết thúc",
    adm_quiet_hint: "Để trống: theo khu vực cấp trên.", adm_approval: "Duyệt bản tin",
    adm_approval_none: "Không cần duyệt", adm_approval_required: "Phải được duyệt",
    adm_inherited: "Theo cấp trên", adm_emergency_confirm: "Xác nhận phát khẩn cấp",
    adm_confirm_password: "Nhập lại mật khẩu", adm_confirm_second_approver: "Người phê duyệt thứ hai",
    adm_edit_area: "Sửa khu vực", adm_save_area: "Lưu khu vực",
    adm_save_area_confirm: "Lưu thay đổi của khu vực {name}? Các khu vực bên dưới sẽ theo ngay.",
    adm_add_child: "Thêm khu vực con", adm_child_name: "Tên khu vực con", adm_child_id: "Mã (không bắt buộc)",
    adm_child_id_hint: "Chữ thường, số và dấu gạch; để trống: tạo từ tên.",
    adm_add_child_confirm: "Thêm khu vực {name} vào {parent}?", adm_quiet_hours: "Giờ yên lặng",
    adm_outlines: "Ranh giới trên bản đồ", adm_outlines_file: "Tệp ranh giới (GeoJSON)",
    adm_outlines_hint: "Một FeatureCollection gồm các vùng Polygon hoặc MultiPolygon; mỗi vùng ghi mã khu vực "
      + "trong thuộc tính area_id, hoặc tên khu vực trong name. Khu vực đã có ranh giới sẽ được thay; "
      + "bản đồ vẽ ranh giới xã, thôn kể cả khi không có bản đồ nền. Tối đa 5 MB.",
    adm_outlines_import: "Nhập ranh giới", adm_outlines_done: "Đã nhập ranh giới của {n} khu vực: {names}.",
    adm_ducking: "Hạ nền khi có thông báo (dB)",
    adm_ducking_hint: "Chương trình nền (tiếp sóng, nhạc) được hạ bấy nhiêu dB khi có bản tin thường hoặc "
      + "ưu tiên, rồi trở lại; từ -40 đến 0. Để trống: theo cấp trên ({db} dB)." },
  en: {
    adm_area_tree: "Area tree",
    adm_choose_area: "Choose an area in the tree to edit it or add an area below it.",
    adm_area_level: "Level", adm_level_province: "Province", adm_level_region: "District / region",
    adm_level_commune: "Commune", adm_level_village: "Village", adm_parent: "Under",
    adm_quiet_start: "Quiet hours start", adm_quiet_end: "Quiet hours end",
    adm_quiet_hint: "Empty: as the area above.", adm_approval: "Bulletin approval",
    adm_approval_none: "Not needed", adm_approval_required: "Required", adm_inherited: "As the area above",
    adm_emergency_confirm: "Emergency confirmation", adm_confirm_password: "Password again",
    adm_confirm_second_approver: "A second approver", adm_edit_area: "Edit the area",
    adm_save_area: "Save the area",
    adm_save_area_confirm: "Save the changes to {name}? The areas below follow at once.",
    adm_add_child: "Add an area below", adm_child_name: "Name of the new area",
    adm_child_id: "Code (optional)",
    adm_child_id_hint: "Lower case letters, digits and dashes; empty: made from the name.",
    adm_add_child_confirm: "Add the area {name} under {parent}?", adm_quiet_hours: "Quiet hours",
    adm_outlines: "Outlines on the map", adm_outlines_file: "Outline file (GeoJSON)",
    adm_outlines_hint: "A FeatureCollection of Polygon or MultiPolygon features; each names its area's code in "
      + "the area_id property, or its name in name. An area's earlier outline is replaced; the map draws "
      + "communes and villages even without map tiles. At most 5 MB.",
    adm_outlines_import: "Import the outlines", adm_outlines_done: "Outlines imported for {n} areas: {names}.",
    adm_ducking: "Background lowered under announcements (dB)",
    adm_ducking_hint: "A background programme (a relayed station, music) goes down this many dB while a normal "
      + "or priority bulletin plays, then comes back; -40 to 0. Empty: as the area above ({db} dB)." },
});

const LEVELS = ["province", "region", "commune", "village"];
const MAX_OUTLINE_BYTES = 5_000_000;  // as the API's limit

/** Render the areas section into body; selected keeps an area chosen after a change. */
export async function render(body, context, selected = null) {
  const areas = await call("GET", "/areas");
  const byId = new Map(areas.map((a) => [a.id, a]));
  const editor = h("section", { class: "panel", "aria-live": "polite" });
  const tree = h("section", { class: "panel" }, h("h2", {}, t("adm_area_tree")), treeList(areas, choose));
  fill(body, h("div", { class: "columns admin-areas" }, tree, editor),
    h("section", { class: "panel" }, outlinesForm(byId)));
  choose(byId.get(selected) || null);

  function choose(area) {
    for (const button of tree.querySelectorAll("button[data-area]")) {
      button.setAttribute("aria-pressed", String(Boolean(area && button.dataset.area === area.id)));
    }
    if (!area) { fill(editor, h("p", { class: "muted" }, t("adm_choose_area"))); return; }
    const again = redraw(render, body, context);
    fill(editor, h("h2", {}, `${area.name} `, h("small", {}, area.id)),
      h("p", { class: "muted" }, `${t("adm_area_level")}: ${levelName(area.level)}`,
        area.parent_id ? ` · ${t("adm_parent")}: ${(byId.get(area.parent_id) || { name: area.parent_id }).name}`
          : ""),
      editForm(area, byId, again), childForm(area, again));
  }
}

function treeList(areas, onChoose) {
  const ids = new Set(areas.map((a) => a.id));
  const parentOf = (a) => (a.parent_id && ids.has(a.parent_id) ? a.parent_id : null);
  const below = (parentId) => areas.filter((a) => parentOf(a) === parentId);
  const branch = (parentId) => {
    const children = below(parentId);
    if (!children.length) return null;
    return h("ul", { class: "tree" }, children.map((a) => h("li", {},
      h("button", { type: "button", class: "tree-node", "data-area": a.id, "aria-pressed": "false",
        onclick: () => onChoose(a) }, a.name, h("small", {}, ` ${levelName(a.level)} · ${a.id}`)),
      branch(a.id))));
  };
  return branch(null) || h("p", { class: "muted" }, t("no_data"));
}

function levelName(level) {
  return LEVELS.includes(level) ? t(`adm_level_${level}`) : level;
}

function choice(name, options, value) {
  return h("select", { name }, h("option", { value: "", selected: !value }, t("adm_inherited")),
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

const DEFAULT_DUCKING_DB = -15;  // as the controller's and the agent's default

/** The ducking an area takes from the areas above it when it sets none. */
function inheritedDucking(area, byId) {
  for (let above = byId.get(area.parent_id); above; above = byId.get(above.parent_id)) {
    if (above.ducking_db !== null && above.ducking_db !== undefined) return above.ducking_db;
  }
  return DEFAULT_DUCKING_DB;
}

function editForm(area, byId, again) {
  const name = h("input", { name: "name", value: area.name, required: true, maxlength: 200 });
  const start = h("input", { type: "time", name: "quiet_start", value: area.quiet_start || "" });
  const end = h("input", { type: "time", name: "quiet_end", value: area.quiet_end || "" });
  const ducking = h("input", { type: "number", name: "ducking_db", min: -40, max: 0, step: 1,
    value: area.ducking_db ?? "", placeholder: String(inheritedDucking(area, byId)) });
  const approval = choice("approval", [["none", t("adm_approval_none")], ["required", t("adm_approval_required")]],
    area.approval);
  const emergency = choice("emergency_confirm", [["password", t("adm_confirm_password")],
    ["second_approver", t("adm_confirm_second_approver")]], area.emergency_confirm);
  return h("form", { class: "admin-form", onsubmit: async (event) => {
    event.preventDefault();
    const changes = { name: name.value.trim(), quiet_start: start.value || null, quiet_end: end.value || null,
      ducking_db: ducking.value === "" ? null : Number(ducking.value),
      approval: approval.value || null, emergency_confirm: emergency.value || null };
    const done = await confirmed(t("adm_save_area_confirm", { name: changes.name }), "PATCH",
      `/areas/${encodeURIComponent(area.id)}`, changes, { what: t("adm_save_area"), form: event.target });
    if (done) await again(area.id);
  } },
  h("h3", {}, t("adm_edit_area")), field(t("name"), name),
  h("fieldset", { class: "pair" }, h("legend", {}, t("adm_quiet_hours")),
    field(t("adm_quiet_start"), start), field(t("adm_quiet_end"), end),
    h("small", { class: "hint" }, t("adm_quiet_hint"))),
  field(t("adm_ducking"), ducking),
  h("small", { class: "hint" }, t("adm_ducking_hint", { db: inheritedDucking(area, byId) })),
  field(t("adm_approval"), approval), field(t("adm_emergency_confirm"), emergency),
  h("button", { type: "submit", class: "primary" }, t("adm_save_area")));
}

function childForm(parent, again) {
  const name = h("input", { name: "child_name", "data-field": "name", required: true, maxlength: 200 });
  // The code is checked by the controller, whose refusal is said next to it in the console's words.
  const id = h("input", { name: "child_id", "data-field": "id", maxlength: 48 });
  const next = LEVELS[Math.min(LEVELS.indexOf(parent.level) + 1, LEVELS.length - 1)] || "village";
  const level = h("select", { name: "level" }, LEVELS.map((l) => h("option", { value: l, selected: l === next },
    levelName(l))));
  return h("form", { class: "admin-form", onsubmit: async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), level: level.value, parent_id: parent.id };
    if (id.value.trim()) body.id = id.value.trim();
    const made = await confirmed(t("adm_add_child_confirm", { name: body.name, parent: parent.name }), "POST",
      "/areas", body, { what: t("adm_add_child"), form: event.target });
    if (made) await again(made.id);
  } },
  h("h3", {}, t("adm_add_child")), field(t("adm_child_name"), name),
  field(t("adm_child_id"), id, t("adm_child_id_hint")),
  field(t("adm_area_level"), level), h("button", { type: "submit" }, t("adm_add_child")));
}

/** The outline import: a GeoJSON file sent as it is; a refusal is said beside the file, with the
 *  place in the file it concerns (e.g. features[2].geometry). */
function outlinesForm(byId) {
  const file = h("input", { type: "file", name: "outlines", required: true, "aria-describedby": "outlines-problem",
    accept: ".geojson,.json,application/geo+json,application/json" });
  const problem = h("p", { id: "outlines-problem", class: "field-problem", role: "alert" });
  const button = h("button", { type: "submit" }, t("adm_outlines_import"));
  return h("form", { class: "admin-form outlines", onsubmit: async (event) => {
    event.preventDefault();
    problem.textContent = "";
    file.removeAttribute("aria-invalid");
    button.disabled = true;
    try {
      const answer = await importOutlines(file.files[0]);
      const names = answer.area_ids.map((id) => (byId.get(id) || { name: id }).name).join(", ");
      say(t("adm_outlines_done", { n: answer.area_ids.length, names }), "ok");
    } catch (error) {
      file.setAttribute("aria-invalid", "true");
      const where = error.field && error.field !== "file" ? ` (${error.field})` : "";
      problem.textContent = `${error.message}${where}`;
    } finally {
      button.disabled = false;
    }
  } },
  h("h2", {}, t("adm_outlines")), field(t("adm_outlines_file"), file, t("adm_outlines_hint")), problem, button);
}

async function importOutlines(chosen) {
  const refused = (code) => new ApiError(422, t(`err_${code}`), { code, field: "file" });
  if (chosen.size > MAX_OUTLINE_BYTES) throw refused("outline_too_large");
  let geojson = null;
  try { geojson = JSON.parse(await chosen.text()); } catch { throw refused("outline_not_json"); }
  return call("PUT", "/areas/outlines", geojson);
}
