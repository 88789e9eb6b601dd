// The clusters on a map: a dot per cluster, coloured by state and labelled (colour is never the only
// sign: each dot has a tooltip and the list beside the map says the same). Tiles come from the
// configured tile URL; without one the dots lie on a plain background and nothing is fetched.
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { deviceState } from "./ui.js";

const COLOURS = { playing: "#1d4ed8", online: "#15803d", offline: "#b91c1c" };
const VIETNAM = [[8.2, 102.1], [23.4, 109.5]];

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
  const layer = L.layerGroup().addTo(map);
  const dots = new Map();  // device id -> {marker, device, colour, label, at} as last drawn
  let fitted = false;
  return function update(devices) {
    const seen = new Set();
    for (const device of devices) {
      seen.add(device.id);
      place(dots.get(device.id) || add(device), device);
    }
    for (const [id, dot] of dots) {
      if (!seen.has(id)) { layer.removeLayer(dot.marker); dots.delete(id); }
    }
    if (!fitted && devices.length) {
      map.fitBounds(devices.map((d) => [d.latitude, d.longitude]), { padding: [24, 24], maxZoom: 14 });
      fitted = true;
    }
  };

  function add(device) {
    const marker = L.circleMarker([device.latitude, device.longitude], {
      radius: 8, color: "#111", weight: 1, fillOpacity: 0.9,
    }).bindTooltip("");
    const dot = { marker, device };
    if (onSelect) marker.on("click", () => onSelect(dot.device));
    marker.addTo(layer);
    marker.getElement().setAttribute("tabindex", "-1");  // the list beside the map serves the keyboard
    dots.set(device.id, dot);
    return dot;
  }

  function place(dot, device) {
    const state = deviceState(device);
    const colour = COLOURS[state];
    const label = `${device.name} · ${t(state)}`;
    const at = [device.latitude, device.longitude];
    if (colour !== dot.colour) dot.marker.setStyle({ fillColor: colour });
    if (label !== dot.label) dot.marker.setTooltipContent(label);
    if (String(at) !== String(dot.at)) dot.marker.setLatLng(at);
    Object.assign(dot, { device, colour, label, at });
  }
}

/** The legend of the map's colours. */
export function legend() {
  return h("ul", { class: "legend" }, Object.keys(COLOURS).map((state) =>
    h("li", {}, h("span", { class: `dot ${state}`, "aria-hidden": "true" }), t(state))));
}
