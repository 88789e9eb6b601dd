// Small SVG bar charts (bars across for named things, columns up for days), each with its values as
// text: in the picture, in the picture's label, and in a table anyone can open.
import { h, svg } from "./dom.js";
import { addStrings, t } from "./i18n.js";
import { table } from "./ui.js";

addStrings({
  vi: {
    bars_chart_values: "Xem bảng số liệu", bars_chart_value: "Giá trị" },
  en: {
    bars_chart_values: "Show the values as a table", bars_chart_value: "Value" },
});

const WIDTH = 640;
const ROW = 34;
const LABEL_W = 200;
const VALUE_W = 200;
const COLUMNS_H = 180;
const PAD = { left: 36, right: 8, top: 18, bottom: 24 };

/** A bar per item ({label, value, text?}) across the chart; max fixes the scale (e.g. 100 for %). */
export function barChart(title, items, { unit = "", max = null, colour = "#1d4ed8", heading } = {}) {
  const figure = h("figure", { class: "chart bars" }, h("figcaption", {}, title));
  if (!items.length) return figure.appendChild(h("p", { class: "muted" }, t("no_data"))) && figure;
  const top = scaleTop(items, max);
  const height = items.length * ROW + 6;
  const span = WIDTH - LABEL_W - VALUE_W;
  const bars = items.map((item, i) => {
    const y = 3 + i * ROW;
    const width = Math.max(item.value > 0 ? 2 : 0, (item.value / top) * span);
    return svg("g", {},
      svg("title", {}, `${item.label}: ${shown(item, unit)}`),
      svg("text", { x: LABEL_W - 8, y: y + ROW / 2 + 5, "text-anchor": "end", class: "label" }, clip(item.label)),
      svg("rect", { x: LABEL_W, y: y + 3, width: width.toFixed(1), height: ROW - 8, fill: colour, rx: 2 }),
      svg("text", { x: LABEL_W + width + 6, y: y + ROW / 2 + 5, class: "value" }, shown(item, unit)));
  });
  figure.append(svg("svg", { viewBox: `0 0 ${WIDTH} ${height}`, role: "img", "aria-label": spoken(title, items, unit) },
    svg("line", { x1: LABEL_W, y1: 0, x2: LABEL_W, y2: height, class: "axis" }), bars), values(items, unit, heading));
  return figure;
}

/** A column per item ({label, value, text?}) upwards, e.g. one per day; labels thinned when many. */
export function columnChart(title, items, { unit = "", colour = "#15803d", heading } = {}) {
  const figure = h("figure", { class: "chart bars" }, h("figcaption", {}, title));
  if (!items.length) return figure.appendChild(h("p", { class: "muted" }, t("no_data"))) && figure;
  const top = scaleTop(items, null);
  const plotH = COLUMNS_H - PAD.top - PAD.bottom;
  const step = (WIDTH - PAD.left - PAD.right) / items.length;
  const every = Math.ceil(items.length / 10);
  const columns = items.map((item, i) => {
    const x = PAD.left + i * step;
    const barH = (item.value / top) * plotH;
    const y = COLUMNS_H - PAD.bottom - barH;
    return svg("g", {},
      svg("title", {}, `${item.label}: ${shown(item, unit)}`),
      svg("rect", { x: (x + step * 0.15).toFixed(1), y: y.toFixed(1), width: (step * 0.7).toFixed(1),
        height: barH.toFixed(1), fill: colour }),
      items.length <= 31 && item.value > 0
        ? svg("text", { x: x + step / 2, y: y - 3, "text-anchor": "middle", class: "value" }, String(item.value))
        : null,
      i % every === 0 ? svg("text", { x: x + step / 2, y: COLUMNS_H - 6, "text-anchor": "middle", class: "tick" },
        item.short || item.label) : null);
  });
  figure.append(svg("svg", { viewBox: `0 0 ${WIDTH} ${COLUMNS_H}`, role: "img", "aria-label": spoken(title, items, unit) },
    svg("line", { x1: PAD.left, y1: COLUMNS_H - PAD.bottom, x2: WIDTH - PAD.right, y2: COLUMNS_H - PAD.bottom,
      class: "axis" }),
    svg("text", { x: PAD.left - 4, y: PAD.top + 4, "text-anchor": "end", class: "tick" }, `${round(top)}${unit}`),
    svg("text", { x: PAD.left - 4, y: COLUMNS_H - PAD.bottom, "text-anchor": "end", class: "tick" }, `0${unit}`),
    columns), values(items, unit, heading));
  return figure;
}

function scaleTop(items, max) {
  if (max) return max;
  const largest = Math.max(...items.map((item) => item.value));
  return largest > 0 ? largest : 1;
}

function shown(item, unit) {
  return item.text ?? `${round(item.value)}${unit}`;
}

function spoken(title, items, unit) {
  return `${title}: ${items.map((item) => `${item.label} ${shown(item, unit)}`).join("; ")}`;
}

function values(items, unit, heading) {
  return h("details", { class: "chart-values" }, h("summary", {}, t("bars_chart_values")),
    table([[heading || t("name"), (item) => item.label],
      [t("bars_chart_value"), (item) => shown(item, unit)]], items));
}

function clip(label) {
  return label.length > 22 ? `${label.slice(0, 21)}…` : label;
}

function round(value) {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
}
