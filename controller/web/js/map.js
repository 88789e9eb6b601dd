// The clusters on a map: a dot per cluster, coloured by state and labelled (colour is never the only
// sign: each dot has a tooltip and the list beside the map says the same). Tiles come from the
// configured tile URL; without one the dots lie on a plain background and nothing is fetched.
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { deviceState } from "./ui.js";

const COLOURS = { playing: "#1d4ed8", online: "#15803d", offline: "#b91c1c" };
const VIETNAM = [[8.2, 102.1], [23.4, 109.5]];

/** A map of the devices in container; session gives the tile URL. Returns an update(devices) function. */
export function clusterMap(container, session, { onSelect } = {}) {
  const L = window.L;
  const map = L.map(container, { zoomSnap: 0.25, attributionControl: Boolean(session.map_tile_url) });
  if (session.map_tile_url) {
    L.tileLayer(session.map_tile_url, { attribution: session.map_tile_attribution || "", maxZoom: 18 }).addTo(map);
  }
  map.fitBounds(VIETNAM);
  const layer = L.layerGroup().addTo(map);
  let fitted = false;
  return function update(devices) {
    layer.clearLayers();
    const points = [];
    for (const device of devices) {
      const state = deviceState(device);
      const marker = L.circleMarker([device.latitude, device.longitude], {
        radius: 8, color: "#111", weight: 1, fillColor: COLOURS[state], fillOpacity: 0.9,
      });
      marker.bindTooltip(`${device.name} · ${t(state)}`);
      if (onSelect) marker.on("click", () => onSelect(device));
      marker.addTo(layer);
      marker.getElement().setAttribute("tabindex", "-1");  // the list beside the map serves the keyboard
      points.push([device.latitude, device.longitude]);
    }
    if (!fitted && points.length) {
      map.fitBounds(points, { padding: [24, 24], maxZoom: 14 });
      fitted = true;
    }
  };
}

/** The legend of the map's colours. */
export function legend() {
  return h("ul", { class: "legend" }, Object.keys(COLOURS).map((state) =>
    h("li", {}, h("span", { class: `dot ${state}`, "aria-hidden": "true" }), t(state))));
}
