// Administration of devices: register a cluster (name, area, position) and read out its one-time claim
// code, move a cluster to another area, give it a new claim code to enrol it again, delete it.
import { call } from "../api.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { deviceState, stateBadge, table } from "../ui.js";
import { areaNames, areaSelect, confirmed, redraw, secretBox } from "./parts.js";

addStrings({
  vi: {
    adm_register_device: "Đăng ký cụm loa mới", adm_position: "Vị trí", adm_device_name: "Tên cụm loa",
    adm_latitude: "Vĩ độ", adm_longitude: "Kinh độ",
    adm_position_hint: "Vị trí trên bản đồ, ví dụ 18.6796 và 105.6813; để trống cả hai nếu chưa đo: "
      + "bản đồ đặt cụm loa giữa ranh giới khu vực của nó.",
    adm_device_id_opt: "Mã cụm loa (không bắt buộc)",
    adm_is_test: "Cụm loa thử nghiệm (chỉ nó phát cảnh báo diễn tập)", adm_register: "Đăng ký",
    adm_register_confirm: "Đăng ký cụm loa {name} ở {area}?", adm_claim_of: "Mã kích hoạt của {name}",
    adm_claim_note: "Mã chỉ dùng được một lần, hết hạn lúc {when}. Đọc cho kỹ thuật viên hoặc chạy "
      + "lệnh dưới đây trên bo mạch:", adm_registered: "Cụm loa đã đăng ký", adm_enrolled: "Đã kích hoạt",
    adm_not_enrolled: "Chưa kích hoạt", adm_move: "Chuyển khu vực",
    adm_move_title: "Chuyển {name} sang khu vực khác", adm_move_to: "Khu vực mới",
    adm_move_confirm: "Chuyển {name} sang {area}?", adm_new_claim: "Mã kích hoạt mới",
    adm_new_claim_confirm: "Tạo mã kích hoạt mới cho {name}? Khi mã được dùng, thông tin đăng nhập cũ của nó "
      + "bị thu hồi.", adm_delete: "Xoá",
    adm_delete_confirm: "XOÁ cụm loa {name} ({id})? Nó bị ngắt kết nối ngay và không thể hoàn tác.",
    adm_enrolment: "Kích hoạt" },
  en: {
    adm_register_device: "Register a new cluster", adm_position: "Position", adm_device_name: "Cluster name",
    adm_latitude: "Latitude", adm_longitude: "Longitude",
    adm_position_hint: "Its place on the map, e.g. 18.6796 and 105.6813; leave both empty when not "
      + "surveyed yet: the map shows the cluster inside its area's outline.",
    adm_device_id_opt: "Cluster code (optional)",
    adm_is_test: "Test cluster (it alone sounds exercise alerts)", adm_register: "Register",
    adm_register_confirm: "Register the cluster {name} in {area}?", adm_claim_of: "Claim code of {name}",
    adm_claim_note: "The code works once and expires at {when}. Read it out to the technician, or run "
      + "this on the board:", adm_registered: "Registered clusters", adm_enrolled: "Enrolled",
    adm_not_enrolled: "Not enrolled", adm_move: "Move", adm_move_title: "Move {name} to another area",
    adm_move_to: "New area", adm_move_confirm: "Move {name} to {area}?", adm_new_claim: "New claim code",
    adm_new_claim_confirm: "Make a new claim code for {name}? When it is used, its old credentials are "
      + "revoked.", adm_delete: "Delete",
    adm_delete_confirm: "DELETE the cluster {name} ({id})? It is cut off at once; this cannot be undone.",
    adm_enrolment: "Enrolment" },
});

/** Render the devices section into body; claim is a claim code to show once after a change. */
export async function render(body, context, claim = null) {
  const [devices, areas] = await Promise.all([call("GET", "/devices"), call("GET", "/areas")]);
  const areaName = areaNames(areas);
  const again = redraw(render, body, context);
  const action = h("div", { class: "admin-action", "aria-live": "polite" });
  fill(body,
    claim ? claimBox(claim) : null,
    h("section", { class: "panel" }, registerForm(areas, areaName, again)),
    h("section", { class: "panel" }, h("h2", {}, t("adm_registered")), action,
      devices.length ? table([
        [t("name"), (d) => h("a", { href: `#/devices/${d.id}` }, d.name)], ["ID", (d) => d.id],
        [t("area"), (d) => areaName(d.area_id)],
        [t("adm_enrolment"), (d) => t(d.enrolled ? "adm_enrolled" : "adm_not_enrolled")],
        [t("state"), (d) => stateBadge(deviceState(d))],
        [t("adm_actions_col"), (d) => rowActions(d)],
      ], devices) : h("p", { class: "muted" }, t("no_devices"))));
  if (claim) body.querySelector(".secret button").focus();

  function rowActions(device) {
    const named = (label) => [label, h("span", { class: "visually-hidden" }, ` ${device.name}`)];
    return h("div", { class: "row-actions" },
      h("button", { type: "button", onclick: () => showMove(device) }, named(t("adm_move"))),
      h("button", { type: "button", onclick: async () => {
        const code = await confirmed(t("adm_new_claim_confirm", { name: device.name }), "POST",
          `/devices/${device.id}/claim-code`, undefined, { what: t("adm_new_claim") });
        if (code) await again({ ...code, name: device.name });
      } }, named(t("adm_new_claim"))),
      h("button", { type: "button", class: "danger", onclick: async () => {
        const done = await confirmed(t("adm_delete_confirm", { name: device.name, id: device.id }), "DELETE",
          `/devices/${device.id}`, undefined, { danger: true, what: t("adm_delete") });
        if (done) await again();
      } }, named(t("adm_delete"))));
  }

  function showMove(device) {
    const area = areaSelect(areas.filter((a) => a.id !== device.area_id), null, { name: "move_area" });
    fill(action, h("form", { class: "admin-form inline-panel", onsubmit: async (event) => {
      event.preventDefault();
      const done = await confirmed(t("adm_move_confirm", { name: device.name, area: areaName(area.value) }), "POST",
        `/devices/${device.id}/move`, { area_id: area.value }, { what: t("adm_move") });
      if (done) await again();
    } }, h("h3", {}, t("adm_move_title", { name: device.name })), field(t("adm_move_to"), area),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t("adm_move")),
      h("button", { type: "button", onclick: () => fill(action) }, t("cancel")))));
    area.focus();
  }
}

function claimBox(claim) {
  return secretBox(t("adm_claim_of", { name: claim.name }), claim.claim_code,
    t("adm_claim_note", { when: when(claim.expires_at) }),
    h("pre", { class: "command" }, h("code", {}, claim.enroll_command)));
}

function registerForm(areas, areaName, again) {
  const name = h("input", { name: "device_name", "data-field": "name", required: true, maxlength: 200,
    autocomplete: "off" });
  const area = areaSelect(areas, null, { name: "device_area" });
  area.dataset.field = "area_id";
  const latitude = h("input", { type: "number", name: "latitude", min: -90, max: 90, step: "any",
    inputmode: "decimal" });
  const longitude = h("input", { type: "number", name: "longitude", min: -180, max: 180,
    step: "any", inputmode: "decimal" });
  const id = h("input", { name: "device_id", "data-field": "id", pattern: "[a-z0-9][a-z0-9\\-]*", maxlength: 48,
    autocomplete: "off" });
  const test = h("input", { type: "checkbox", name: "is_test" });
  return h("form", { class: "admin-form", onsubmit: async (event) => {
    event.preventDefault();
    const coordinate = (input) => (input.value.trim() === "" ? null : Number(input.value));
    const device = { name: name.value.trim(), area_id: area.value, latitude: coordinate(latitude),
      longitude: coordinate(longitude), is_test: test.checked };
    if (id.value.trim()) device.id = id.value.trim();
    const made = await confirmed(t("adm_register_confirm", { name: device.name, area: areaName(device.area_id) }),
      "POST", "/devices", device, { what: t("adm_register"), form: event.target });
    if (made) await again({ ...made.claim, name: made.device.name });
  } },
  h("h2", {}, t("adm_register_device")), field(t("adm_device_name"), name), field(t("area"), area),
  h("fieldset", { class: "pair" }, h("legend", {}, t("adm_position")),
    field(t("adm_latitude"), latitude), field(t("adm_longitude"), longitude),
    h("small", { class: "hint" }, t("adm_position_hint"))),
  field(t("adm_device_id_opt"), id), h("label", { class: "check" }, test, ` ${t("adm_is_test")}`),
  h("button", { type: "submit", class: "primary" }, t("adm_register")));
}
