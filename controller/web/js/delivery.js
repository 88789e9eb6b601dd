// A broadcast's delivery, device by device, live until every device reached a final state.
import { follow } from "./api.js";
import { fill, h } from "./dom.js";
import { addStrings, t } from "./i18n.js";

addStrings({
  vi: { delivery: "Tình trạng phát", delivery_done: "Đã xong: mọi cụm loa đã báo kết quả.",
    st_offline: "mất kết nối", st_pending: "đang gửi", st_acknowledged: "đã nhận", st_downloading: "đang tải",
    st_playing: "đang phát", st_completed: "đã phát xong", st_failed: "lỗi", st_missed: "lỡ",
    st_preempted: "bị ngắt", st_stopped: "đã dừng" },
  en: { delivery: "Delivery", delivery_done: "Done: every cluster has reported.",
    st_offline: "offline", st_pending: "sending", st_acknowledged: "received", st_downloading: "downloading",
    st_playing: "playing", st_completed: "completed", st_failed: "failed", st_missed: "missed",
    st_preempted: "preempted", st_stopped: "stopped" },
});

/** The live delivery board of a broadcast: {element, stop} (stop ends following it). */
export function deliveryBoard(broadcastId) {
  const states = new Map();
  const summary = h("p", { class: "delivery-summary", role: "status", "aria-live": "polite" });
  const rows = h("tbody", {});
  const done = h("p", { class: "ok", hidden: true }, t("delivery_done"));
  const element = h("section", { class: "panel delivery", "data-broadcast": broadcastId },
    h("h2", {}, t("delivery")), summary, done,
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("device")),
      h("th", { scope: "col" }, t("state")))), rows));

  function draw() {
    const counts = {};
    for (const { state } of states.values()) counts[state] = (counts[state] || 0) + 1;
    summary.textContent = Object.entries(counts).map(([state, n]) => `${t("st_" + state)}: ${n}`).join(" · ");
    fill(rows, [...states.entries()].sort().map(([device, { state, detail }]) => h("tr", { "data-device": device },
      h("td", {}, h("a", { href: `#/devices/${device}` }, device)),
      h("td", {}, h("span", { class: `delivery-state ${state}` }, t("st_" + state)), detail ? ` · ${detail}` : ""))));
  }

  const stop = follow(`/broadcasts/${encodeURIComponent(broadcastId)}/events`, (event) => {
    states.set(event.device, { state: event.state, detail: event.detail });
    draw();
  }, () => { done.hidden = false; });
  return { element, stop };
}
