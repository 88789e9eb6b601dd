// The areas as a tree of checkboxes, each saying how many clusters lie under it. Ticking an area
// takes in everything below it: its children are ticked with it and locked until it is unticked.
import { h } from "./dom.js";
import { addStrings, t } from "./i18n.js";

addStrings({
  vi: { at_clusters: "{n} cụm loa", at_included: "đã gồm trong khu vực cấp trên" },
  en: { at_clusters: "{n} clusters", at_included: "included in the area above" },
});

/** Ids of the areas under each area (parents missing from the list make roots). */
function childrenOf(areas) {
  const known = new Set(areas.map((a) => a.id));
  const children = new Map();
  for (const area of [...areas].sort((a, b) => a.name.localeCompare(b.name, "vi"))) {
    const parent = known.has(area.parent_id) ? area.parent_id : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(area);
  }
  return children;
}

/** A checkbox tree of areas with cluster counts: {element, chosen(), reach(), names(), set(ids)}.
 *  chosen() gives the top-most ticked areas (each covers its subtree), reach() the clusters under them. */
export function areaTree(areas, devices, { legend, name = "area", onChange } = {}) {
  const children = childrenOf(areas);
  const direct = new Map();
  for (const device of devices) direct.set(device.area_id, (direct.get(device.area_id) || 0) + 1);
  const totals = new Map();
  const total = (id) => {
    if (!totals.has(id)) {
      totals.set(id, (children.get(id) || []).reduce((n, area) => n + total(area.id), direct.get(id) || 0));
    }
    return totals.get(id);
  };
  const boxes = new Map();
  const names = new Map(areas.map((a) => [a.id, a.name]));

  function branch(parentId) {
    const list = children.get(parentId) || [];
    if (!list.length) return null;
    return h("ul", { class: "area-tree" }, list.map((area) => {
      const box = h("input", { type: "checkbox", name, value: area.id });
      boxes.set(area.id, box);
      return h("li", {}, h("label", {}, box, h("span", {}, `${area.name} `,
        h("span", { class: "area-count" }, `(${area.id}) · ${t("at_clusters", { n: total(area.id) })}`))),
      branch(area.id));
    }));
  }

  function lockBelow(id, ticked) {
    for (const child of children.get(id) || []) {
      const box = boxes.get(child.id);
      box.checked = ticked;
      box.disabled = ticked;
      box.title = ticked ? t("at_included") : "";
      lockBelow(child.id, ticked);
    }
  }

  const element = h("fieldset", { class: "targets area-tree-box" },
    h("legend", {}, legend || t("targets")), branch(null));
  element.addEventListener("change", (event) => {
    if (!(event.target instanceof HTMLInputElement) || !boxes.has(event.target.value)) return;
    lockBelow(event.target.value, event.target.checked);
    if (onChange) onChange();
  });
  const chosen = () => [...boxes.entries()].filter(([, b]) => b.checked && !b.disabled).map(([id]) => id);
  return {
    element,
    chosen,
    reach: () => chosen().reduce((n, id) => n + total(id), 0),
    names: () => chosen().map((id) => names.get(id) || id),
    set(ids) {
      for (const box of boxes.values()) { box.checked = false; box.disabled = false; box.title = ""; }
      for (const id of ids.filter((area) => boxes.has(area) && !boxes.get(area).disabled)) {
        boxes.get(id).checked = true;
        lockBelow(id, true);
      }
      if (onChange) onChange();
    },
  };
}
