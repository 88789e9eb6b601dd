// The clusters on a map: a dot per cluster, coloured by state and labelled (colour is never the only
// sign: each dot has a tooltip and the list beside the map says the same). The base is the areas'
// administrative outlines the admin imported (communes and villages, named), and the view fits them;
// tiles from the configured tile URL, when there is one, lie under the outlines. A cluster registered
// without a position stands inside its area's outline (at the point where its name is written).
import { call } from "./api.js";
import { h } from "./dom.js";
import { addStrings, t } from "./i18n.js";
import { deviceState } from "./ui.js";

addStrings({
  vi: { map_placed_in_area: "chưa có toạ độ, đặt giữa khu vực" },
  en: { map_placed_in_area: "no position yet, shown in its area" },
});

const COLOURS = { playing: "#1d4ed8", online: "#15803d", offline: "#b91c1c", not_heard: "#92400e" };
const VIETNAM = [[8.2, 102.1], [23.4, 109.5]];
const LEVELS = ["province", "region", "commune", "village"];  // drawn in this order: villages on top
const OUTLINE_STYLES = {
  province: { color: "#4b5563", weight: 2.5, dashArray: "6 4", fill: false },
  region: { color: "#4b5563", weight: 2, dashArray: "6 4", fill: false },
  commune: { color: "#374151", weight: 2, fill: false },
  village: { color: "#1e40af", weight: 1, fillColor: "#bfdbfe", fillOpacity: 0.45 },
};
const VILLAGE_NAMES_FROM_ZOOM = 11;  // further out, a province's village names would cover each other

/** A map of the devices in container; session gives the tile URL. Returns an update(devices) function
 *  that keeps one dot per device: it moves, recolours and relabels the dots, adds and removes some,
 *  and never redraws the whole map (it may be called every second with thousands of devices). */
export function clusterMap(container, session, { onSelect } = {}) {
  const L = window.L;
  const map = L.map(container, { zoomSnap: 0.25, attributionControl: Boolean(session.map_tile_url) });
  if (session.map_tile_url) {
    L.tileLayer(session.map_tile_url, { attribution: session.map_tile_attribution || "", maxZoom: 18 }).addTo(map);
  }
  map.fitBounds(VIETNAM);
  let fitted = null;  // what the view was fitted to: "devices", then "outlines" when they come
  const areaPoints = new Map();  // area id -> {at: [latitude, longitude] inside its outline, step (degrees)}
  let drawn = [];  // the devices last drawn, drawn again when the outlines place the unsurveyed ones
  call("GET", "/areas/outlines").then((outlines) => {
    const bounds = drawOutlines(map, outlines.features);
    for (const feature of outlines.features) {
      const area = feature.properties;
      const extent = L.geoJSON(feature).getBounds();
      const step = extent.getNorth() - extent.getSouth();
      areaPoints.set(area.area_id, { at: [area.label[1], area.label[0]], step: step / SPREAD_PER_AREA });
    }
    if (bounds) {  // room above for the commune's name
      // at once, not animated: the view is where it belongs as soon as the outlines are drawn
      map.fitBounds(bounds, { paddingTopLeft: [16, 32], paddingBottomRight: [16, 16], animate: false });
      fitted = "outlines";
    }
    update(drawn);
  }).catch(() => {});  // without outlines the dots still stand on the plain background
  const layer = L.layerGroup().addTo(map);
  const dots = new Map();  // device id -> {marker, device, colour, label, at} as last drawn
  return update;

  function update(devices) {
    drawn = devices;
    const seen = new Set();
    const placedIn = new Map();  // area id -> how many of its clusters without a position are placed
    for (const device of devices) {
      const at = positionOf(device, placedIn);
      if (!at) continue;  // unsurveyed, and its area has no outline: only the list beside the map has it
      seen.add(device.id);
      place(dots.get(device.id) || add(device, at), device, at);
    }
    for (const [id, dot] of dots) {
      if (!seen.has(id)) { layer.removeLayer(dot.marker); dots.delete(id); }
    }
    if (!fitted && seen.size) {
      map.fitBounds([...dots.values()].map((dot) => dot.at), { padding: [24, 24], maxZoom: 14, animate: false });
      fitted = "devices";
    }
  }

  function positionOf(device, placedIn) {
    if (device.latitude !== null && device.longitude !== null) return [device.latitude, device.longitude];
    const point = areaPoints.get(device.area_id);
    if (!point) return null;
    const nth = placedIn.get(device.area_id) || 0;
    placedIn.set(device.area_id, nth + 1);
    return spread(point.at, point.step, nth);
  }

  function add(device, at) {
    const marker = L.circleMarker(at, {
      radius: 8, color: "#111", weight: 1, fillOpacity: 0.9,
    }).bindTooltip("");
    const dot = { marker, device };
    if (onSelect) marker.on("click", () => onSelect(dot.device));
    marker.addTo(layer);
    marker.getElement().setAttribute("tabindex", "-1");  // the list beside the map serves the keyboard
    marker.getElement().setAttribute("data-device", device.id);
    dots.set(device.id, dot);
    return dot;
  }

  function place(dot, device, at) {
    const state = deviceState(device);
    const colour = COLOURS[state];
    const guessed = device.latitude === null ? ` · ${t("map_placed_in_area")}` : "";
    const label = `${device.name} · ${t(state)}${guessed}`;
    if (colour !== dot.colour) dot.marker.setStyle({ fillColor: colour });
    if (label !== dot.label) dot.marker.setTooltipContent(h("span", {}, label));  // a name is text, never markup
    if (String(at) !== String(dot.at)) dot.marker.setLatLng(at);
    Object.assign(dot, { device, colour, label, at });
  }
}

/** Draw the outlines (GeoJSON features from /areas/outlines) under the dots, each named at its label
 *  point; returns their bounds, or null when there are none. */
function drawOutlines(map, features) {
  if (!features.length) return null;
  const L = window.L;
  map.createPane("outlines").style.zIndex = 350;  // above tiles (200), under the dots (400)
  map.createPane("outline-names").style.zIndex = 360;
  const rank = (f) => { const i = LEVELS.indexOf(f.properties.level); return i < 0 ? LEVELS.length : i; };
  const ordered = [...features].sort((a, b) => rank(a) - rank(b));
  const shapes = L.geoJSON(ordered, {
    pane: "outlines", interactive: false, renderer: L.svg({ pane: "outlines" }),
    style: (f) => ({ ...(OUTLINE_STYLES[f.properties.level] || OUTLINE_STYLES.commune),
      className: `area-outline level-${f.properties.level}` }),
  }).addTo(map);
  shapes.eachLayer((shape) => {
    shape.getElement().setAttribute("data-area", shape.feature.properties.area_id);
    nameOf(shape).addTo(map);
  });
  const farOut = () => map.getContainer().classList.toggle("far", map.getZoom() < VILLAGE_NAMES_FROM_ZOOM);
  map.on("zoomend", farOut);
  farOut();
  return shapes.getBounds();
}

/** An outline's name: a village's inside it, just above the point the API chose (where a cluster
 *  without a position stands), a commune's (or a larger area's) above its northern edge, clear of its
 *  villages' names. */
function nameOf(shape) {
  const area = shape.feature.properties;
  const inside = area.level === "village";
  const bounds = shape.getBounds();
  const at = inside ? [area.label[1], area.label[0]] : [bounds.getNorth(), bounds.getCenter().lng];
  return window.L.tooltip({ pane: "outline-names", permanent: true, interactive: false, direction: "top",
    offset: inside ? [0, -8] : [0, 0], className: `area-label level-${area.level}` })
    .setLatLng(at).setContent(h("span", {}, area.name));
}

/** The legend of the map's colours. */
export function legend() {
  return h("ul", { class: "legend" }, Object.keys(COLOURS).map((state) =>
    h("li", {}, h("span", { class: `dot ${state}`, "aria-hidden": "true" }), t(state))));
}

// Clusters placed at their area's point (they have no position of their own) are spread around it on
// a sunflower spiral, a step of a twentieth of the area's height apart, so that each dot can be seen
// and clicked when the area fills the view.
const SPREAD_PER_AREA = 20;
const GOLDEN_ANGLE = Math.PI * (3 - Math.sqrt(5));

function spread([latitude, longitude], step, nth) {
  if (nth === 0) return [latitude, longitude];
  const radius = step * Math.sqrt(nth);
  const angle = nth * GOLDEN_ANGLE;
  return [latitude + radius * Math.sin(angle),
    longitude + radius * Math.cos(angle) / Math.cos((latitude * Math.PI) / 180)];
}
