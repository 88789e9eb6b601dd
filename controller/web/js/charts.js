// Small SVG line charts, drawn from the samples themselves (no library needed for a line).
import { h, svg } from "./dom.js";
import { language, t, timeZone } from "./i18n.js";

const WIDTH = 640;
const HEIGHT = 160;
const PAD = { left: 44, right: 8, top: 8, bottom: 22 };

/** A line chart of points [x ms, y] with a title (also the picture's label for screen readers). */
export function lineChart(title, points, { unit = "", colour = "#1d4ed8" } = {}) {
  const figure = h("figure", { class: "chart" }, h("figcaption", {}, title));
  const values = points.filter(([, y]) => y !== null && y !== undefined);
  if (values.length < 2) return figure.appendChild(h("p", { class: "muted" }, t("no_data"))) && figure;
  const xs = values.map(([x]) => x);
  const ys = values.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const sx = (x) => PAD.left + ((x - x0) / (x1 - x0 || 1)) * (WIDTH - PAD.left - PAD.right);
  const sy = (y) => HEIGHT - PAD.bottom - ((y - y0) / (y1 - y0)) * (HEIGHT - PAD.top - PAD.bottom);
  const path = values.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
  const day = (ms) => new Date(ms).toLocaleDateString(language() === "en" ? "en-GB" : "vi-VN",
    { day: "numeric", month: "numeric", timeZone: timeZone() });
  figure.append(svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title },
    svg("line", { x1: PAD.left, y1: HEIGHT - PAD.bottom, x2: WIDTH - PAD.right, y2: HEIGHT - PAD.bottom,
      class: "axis" }),
    svg("text", { x: PAD.left - 4, y: sy(y1) + 4, "text-anchor": "end", class: "tick" }, `${round(y1)}${unit}`),
    svg("text", { x: PAD.left - 4, y: sy(y0), "text-anchor": "end", class: "tick" }, `${round(y0)}${unit}`),
    svg("text", { x: PAD.left, y: HEIGHT - 4, class: "tick" }, day(x0)),
    svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 4, "text-anchor": "end", class: "tick" }, day(x1)),
    svg("path", { d: path, fill: "none", stroke: colour, "stroke-width": 2 })));
  return figure;
}

function round(value) {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
}
