// Notifications: who is told of incidents in an area (an e-mail address or a webhook, by role), the
// incidents still open, and the daily digest on demand.
import { call } from "../api.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { busy, say, table } from "../ui.js";
import { USER_ROLES, areaNames, confirmed, redraw, roleAndArea, roleName, secretBox } from "./parts.js";

addStrings({
  vi: {
    ntf_subscriptions: "Nơi nhận thông báo", ntf_none: "Chưa có nơi nhận thông báo nào.",
    ntf_new: "Thêm nơi nhận thông báo", ntf_channel: "Cách gửi", ntf_channel_email: "Thư điện tử",
    ntf_channel_webhook: "Gọi địa chỉ web (webhook: cổng SMS, Zalo OA)", ntf_address: "Địa chỉ",
    ntf_address_hint: "Địa chỉ thư, hoặc địa chỉ web bắt đầu bằng https://",
    ntf_create: "Thêm", ntf_create_confirm: "Gửi thông báo sự cố ở {area} cho {role} tới {address}?",
    ntf_remove: "Bỏ", ntf_remove_confirm: "Thôi gửi thông báo tới {address}?", ntf_test: "Gửi thử",
    ntf_test_queued: "Đã gửi thử tới {address}; hãy kiểm tra bên nhận.",
    ntf_secret_of: "Khoá ký của webhook {address}",
    ntf_secret_once: "Khoá chỉ hiện MỘT LẦN. Bên nhận dùng nó để kiểm tra chữ ký X-Loalang-Signature.",
    ntf_open: "Sự cố chưa khắc phục", ntf_no_open: "Không có sự cố nào đang mở.", ntf_since: "Từ lúc",
    ntf_what: "Sự cố", ntf_digest: "Gửi bản tóm tắt hôm nay", ntf_digest_confirm:
      "Gửi ngay bản tóm tắt hằng ngày (mỗi nơi nhận một lần một ngày)?",
    ntf_kind_device_offline: "Cụm loa mất kết nối", ntf_kind_delivery_failed: "Phát không tới",
    ntf_kind_amplifier_silent: "Phát nhưng không nghe thấy tiếng", ntf_kind_wrong_audio: "Loa kêu âm thanh khác", ntf_kind_cap_alert: "Cảnh báo được phát" },
  en: {
    ntf_subscriptions: "Who is notified", ntf_none: "Nobody is notified yet.", ntf_new: "Notify someone",
    ntf_channel: "Sent by", ntf_channel_email: "E-mail",
    ntf_channel_webhook: "Calling a web address (webhook: SMS gateway, Zalo OA)", ntf_address: "Address",
    ntf_address_hint: "An e-mail address, or a web address starting with https://",
    ntf_create: "Add", ntf_create_confirm: "Tell the {role} of incidents in {area} at {address}?",
    ntf_remove: "Remove", ntf_remove_confirm: "Stop notifying {address}?", ntf_test: "Send a test",
    ntf_test_queued: "A test is on its way to {address}; check that it arrives.",
    ntf_secret_of: "Signing key of the webhook {address}",
    ntf_secret_once: "The key is shown ONCE. The receiver checks the X-Loalang-Signature header with it.",
    ntf_open: "Incidents still open", ntf_no_open: "No incident is open.", ntf_since: "Since",
    ntf_what: "Incident", ntf_digest: "Send today's digest",
    ntf_digest_confirm: "Send the daily digest now (once a day for each address)?",
    ntf_kind_device_offline: "Cluster offline", ntf_kind_delivery_failed: "Not delivered everywhere",
    ntf_kind_amplifier_silent: "Played, no sound heard", ntf_kind_wrong_audio: "Horns sound something else", ntf_kind_cap_alert: "Alert on the air" },
});

/** Render the notifications section into body; shown is a webhook's secret to show once. */
export async function render(body, context, shown = null) {
  const [subscriptions, incidents, areas] = await Promise.all([
    call("GET", "/notifications/subscriptions"),
    call("GET", "/notifications/incidents", undefined, { open: true }), call("GET", "/areas")]);
  const areaName = areaNames(areas);
  const again = redraw(render, body, context);
  fill(body,
    shown ? secretBox(t("ntf_secret_of", { address: shown.address }), shown.secret, t("ntf_secret_once")) : null,
    h("section", { class: "panel" }, h("h2", {}, t("ntf_subscriptions")),
      subscriptions.length ? table([
        [t("area"), (s) => areaName(s.area_id)], [t("adm_role"), (s) => roleName(s.role)],
        [t("ntf_channel"), (s) => t(`ntf_channel_${s.channel}`)], [t("ntf_address"), (s) => s.address],
        [t("adm_actions_col"), (s) => h("div", { class: "row-actions" }, testButton(s), removeButton(s, again))],
      ], subscriptions) : h("p", { class: "muted" }, t("ntf_none"))),
    h("section", { class: "panel" }, h("h2", {}, t("ntf_open")),
      incidents.length ? table([
        [t("ntf_what"), (i) => t(`ntf_kind_${i.kind}`)], [t("name"), (i) => i.title],
        [t("ntf_since"), (i) => when(i.opened_at)],
      ], incidents) : h("p", { class: "muted" }, t("ntf_no_open")),
      h("button", { type: "button", onclick: async () => {
        if (await confirmed(t("ntf_digest_confirm"), "POST", "/notifications/digest", undefined,
          { what: t("ntf_digest") })) await again();
      } }, t("ntf_digest"))),
    h("section", { class: "panel" }, createForm(areas, !context.session.user.area_id, again)));
  if (shown) body.querySelector(".secret button").focus();
}

function testButton(subscription) {
  const button = h("button", { type: "button", onclick: () => busy(button, async () => {
    await call("POST", `/notifications/subscriptions/${subscription.id}/test`);
    say(t("ntf_test_queued", { address: subscription.address }), "ok");
  }) }, t("ntf_test"), h("span", { class: "visually-hidden" }, ` ${subscription.address}`));
  return button;
}

function removeButton(subscription, again) {
  return h("button", { type: "button", class: "danger", onclick: async () => {
    const done = await confirmed(t("ntf_remove_confirm", { address: subscription.address }), "DELETE",
      `/notifications/subscriptions/${subscription.id}`, undefined, { danger: true, what: t("ntf_remove") });
    if (done) await again();
  } }, t("ntf_remove"), h("span", { class: "visually-hidden" }, ` ${subscription.address}`));
}

function createForm(areas, wholeTree, again) {
  const access = roleAndArea(USER_ROLES, "technician", areas, { whole: wholeTree });
  const channel = h("select", { name: "channel" }, ["email", "webhook"].map((c) =>
    h("option", { value: c }, t(`ntf_channel_${c}`))));
  const address = h("input", { name: "address", required: true, maxlength: 500, autocomplete: "off" });
  return h("form", { class: "admin-form", onsubmit: async (event) => {
    event.preventDefault();
    const wanted = { ...access.value(), channel: channel.value, address: address.value.trim() };
    const made = await confirmed(t("ntf_create_confirm", { ...access.words(), address: wanted.address }),
      "POST", "/notifications/subscriptions", wanted, { what: t("ntf_create") });
    if (made) await again(made.secret ? made : null);
  } },
  h("h2", {}, t("ntf_new")), access.fields, field(t("ntf_channel"), channel),
  field(t("ntf_address"), address, t("ntf_address_hint")),
  h("button", { type: "submit", class: "primary" }, t("ntf_create")));
}
