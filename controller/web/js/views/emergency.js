// Emergency: a flow of its own. Write the warning (spoken) or pick a recording, choose the areas and
// see their clusters on the map, then confirm with the password again; delivery follows live.
// The CAP alerts received from warning centres are listed below with what each did.
import { call } from "../api.js";
import { deliveryBoard } from "../delivery.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { clusterMap, legend } from "../map.js";
import { spokenText } from "../spoken-text.js";
import { busy, clearStatus, confirmDialog, say, table } from "../ui.js";

addStrings({
  vi: { emergency_title: "Phát cảnh báo khẩn cấp", emergency_text: "Nội dung cảnh báo (sẽ được đọc)",
    emergency_media: "Hoặc chọn bản ghi trong thư viện", none: "— không —", reach: "Phạm vi: {n} cụm loa",
    emergency_send: "Phát cảnh báo…", emergency_confirm: "Phát CẢNH BÁO KHẨN CẤP tới {n} cụm loa ở {areas}? "
      + "Mọi chương trình khác sẽ bị ngắt. Nhập lại mật khẩu để xác nhận.",
    awaiting_second: "Đang chờ người phê duyệt thứ hai xác nhận.", emergency_on_air: "Cảnh báo đang phát.",
    stop_emergency: "Dừng cảnh báo", cap_alerts: "Cảnh báo CAP đã nhận", no_alerts: "Chưa nhận cảnh báo nào.",
    sender: "Nơi gửi", outcome: "Kết quả", give_text_or_media: "Viết nội dung hoặc chọn một bản ghi" },
  en: { emergency_title: "Sound an emergency warning", emergency_text: "The warning (it will be spoken)",
    emergency_media: "Or choose a recording from the library", none: "— none —", reach: "Reach: {n} clusters",
    emergency_send: "Sound the warning…", emergency_confirm: "Sound an EMERGENCY WARNING on {n} clusters in "
      + "{areas}? Everything else is cut. Give your password again to confirm.",
    awaiting_second: "Waiting for a second approver to confirm.", emergency_on_air: "The warning is on the air.",
    stop_emergency: "Stop the warning", cap_alerts: "CAP alerts received", no_alerts: "No alert received yet.",
    sender: "Sender", outcome: "Outcome", give_text_or_media: "Write the warning or choose a recording" },
});

/** Render the emergency page into main; returns the function that stops following delivery. */
export async function render(main, _params, context) {
  const [areas, media, alerts] = await Promise.all([call("GET", "/areas"), call("GET", "/media"),
    call("GET", "/alerts")]);
  const spoken = spokenText(t("emergency_text"), { name: "text", rows: 3 });
  const text = spoken.textarea;
  const recording = h("select", { name: "media" }, h("option", { value: "" }, t("none")),
    media.map((m) => h("option", { value: m.sha256 }, m.title)));
  const targets = h("fieldset", { class: "targets" }, h("legend", {}, t("targets")),
    areas.map((a) => h("label", {}, h("input", { type: "checkbox", name: "area", value: a.id }), ` ${a.name} (${a.id})`)));
  const reach = h("p", { class: "reach", role: "status" }, t("reach", { n: 0 }));
  const mapBox = h("div", { class: "map", role: "region", "aria-label": t("map") });
  const follow = h("div", {});
  const sendButton = h("button", { type: "submit", class: "danger big" }, t("emergency_send"));
  let stopFollowing = () => {};
  fill(main, h("h1", { class: "emergency-title" }, t("emergency_title")),
    h("form", { class: "panel emergency", onsubmit: send },
      spoken.element, field(t("emergency_media"), recording), targets, reach, mapBox, legend(),
      sendButton),
    follow,
    h("section", { class: "panel" }, h("h2", {}, t("cap_alerts")), alertTable(alerts)));
  const update = clusterMap(mapBox, context.session);
  let chosenDevices = [];
  let asked = 0;  // the latest change wins over slower answers to earlier ones
  targets.addEventListener("change", () => busy(null, async () => {
    const ticket = ++asked;
    const lists = await Promise.all(chosenAreas().map((id) => call("GET", "/devices", undefined, { area: id })));
    if (ticket !== asked) return;
    chosenDevices = [...new Map(lists.flat().map((d) => [d.id, d])).values()];
    reach.textContent = t("reach", { n: chosenDevices.length });
    update(chosenDevices);
  }));

  function areaNames(ids) {
    const names = new Map(areas.map((a) => [a.id, a.name]));
    return ids.map((id) => names.get(id) || id).join(", ");
  }

  function chosenAreas() {
    return [...targets.querySelectorAll("input[name=area]:checked")].map((input) => input.value);
  }

  async function send(event) {
    event.preventDefault();
    const areaIds = chosenAreas();
    if (!areaIds.length) { say(t("choose_targets"), "error"); return; }
    if (!text.value.trim() && !recording.value) { say(t("give_text_or_media"), "error"); return; }
    const body = { level: "emergency", area_ids: areaIds };
    if (recording.value) body.media_sha256 = recording.value; else body.text = text.value.trim();
    // A wrong password is said in the dialog, which stays open for another try.
    const broadcast = await busy(sendButton, () => confirmDialog(
      t("emergency_confirm", { n: chosenDevices.length, areas: areaNames(areaIds) }),
      { danger: true, password: true, confirmLabel: t("emergency_send"),
        act: (password) => call("POST", "/broadcasts", { ...body, confirm_password: password }) }));
    if (broadcast) showDelivery(broadcast);
  }

  function showDelivery(broadcast) {
    clearStatus();  // an earlier error must not cover the stop button while the warning plays
    stopFollowing();
    const board = deliveryBoard(broadcast.id);
    stopFollowing = board.stop;
    const waiting = broadcast.status === "awaiting_confirmation";
    fill(follow, h("p", { class: waiting ? "muted" : "error", role: "alert" },
      waiting ? t("awaiting_second") : t("emergency_on_air")),
    h("button", { type: "button", class: "big", onclick: async (event) => {
      const button = event.currentTarget;
      if (!(await confirmDialog(t("stop_emergency") + "?", { confirmLabel: t("stop_emergency") }))) return;
      await busy(button, async () => {
        await call("POST", `/broadcasts/${broadcast.id}/stop`);
        say(t("ended"), "ok");
      });
    } }, t("stop_emergency")), board.element);
  }
  return () => stopFollowing();
}

function alertTable(alerts) {
  if (!alerts.length) return h("p", { class: "muted" }, t("no_alerts"));
  return table([
    [t("when"), (a) => when(a.received_at)],
    [t("sender"), (a) => a.sender],
    ["ID", (a) => a.identifier],
    [t("state"), (a) => `${a.status} / ${a.msg_type}`],
    [t("outcome"), (a) => [a.outcome, a.detail ? ` · ${a.detail}` : ""].join("")],
  ], alerts);
}
