// Administration of API clients (a warning centre posting CAP alerts, another system): the list, a new
// client (its key shown this once), a new key (the old one stops at once), disabling.
import { call } from "../api.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { table } from "../ui.js";
import { accountState, areaNames, confirmed, redraw, roleAndArea, roleName, secretBox } from "./parts.js";

addStrings({
  vi: {
    adm_clients: "Ứng dụng kết nối", adm_new_client: "Thêm ứng dụng kết nối", adm_client_id: "Mã ứng dụng",
    adm_client_id_hint: "Chữ thường, số và dấu gạch, ví dụ trung-tam-canh-bao.",
    adm_create_client: "Tạo ứng dụng", adm_create_client_confirm: "Tạo ứng dụng {id} ({role}, {area})?",
    adm_new_key: "Cấp khoá mới", adm_new_key_confirm: "Cấp khoá mới cho {id}? Khoá cũ ngừng hoạt động ngay.",
    adm_disable_client: "Vô hiệu hoá",
    adm_disable_client_confirm: "Vô hiệu hoá {id}? Khoá của nó ngừng hoạt động ngay.",
    adm_last_used: "Dùng lần cuối", adm_key_of: "Khoá của {id}",
    adm_key_once: "Khoá chỉ hiện MỘT LẦN. Hãy chép và cất giữ an toàn; gửi kèm mỗi yêu cầu dưới "
      + "dạng Authorization: Bearer <khoá>.", adm_no_clients: "Chưa có ứng dụng nào.",
    adm_created_by: "Người tạo" },
  en: {
    adm_clients: "API clients", adm_new_client: "Add an API client", adm_client_id: "Client code",
    adm_client_id_hint: "Lower case letters, digits and dashes, e.g. warning-centre.",
    adm_create_client: "Create the client",
    adm_create_client_confirm: "Create the client {id} ({role}, {area})?", adm_new_key: "New key",
    adm_new_key_confirm: "Give {id} a new key? The old key stops working at once.",
    adm_disable_client: "Disable", adm_disable_client_confirm: "Disable {id}? Its key stops working at once.",
    adm_last_used: "Last used", adm_key_of: "Key of {id}",
    adm_key_once: "The key is shown ONCE. Copy it and keep it safe; send it with every request as "
      + "Authorization: Bearer <key>.", adm_no_clients: "No API clients yet.", adm_created_by: "Created by" },
});

const CLIENT_ROLES = ["alert", "viewer", "operator", "approver", "technician", "admin"];

/** Render the API clients section into body; shown is a key to show once after a change. */
export async function render(body, context, shown = null) {
  const [clients, areas] = await Promise.all([call("GET", "/api-clients"), call("GET", "/areas")]);
  const wholeTree = !context.session.user.area_id;
  const areaName = areaNames(areas);
  const again = redraw(render, body, context);
  fill(body,
    shown ? secretBox(t("adm_key_of", { id: shown.id }), shown.key, t("adm_key_once")) : null,
    h("section", { class: "panel" }, h("h2", {}, t("adm_clients")),
      clients.length ? table([
        ["ID", (c) => c.id], [t("name"), (c) => c.name], [t("adm_role"), (c) => roleName(c.role)],
        [t("area"), (c) => areaName(c.area_id)], [t("state"), (c) => accountState(c)],
        [t("adm_last_used"), (c) => (c.last_used_at ? when(c.last_used_at) : t("never"))],
        [t("adm_created_by"), (c) => c.created_by],
        [t("adm_actions_col"), (c) => (c.disabled ? "" : rowActions(c, again))],
      ], clients) : h("p", { class: "muted" }, t("adm_no_clients"))),
    h("section", { class: "panel" }, createForm(areas, wholeTree, again)));
  if (shown) body.querySelector(".secret button").focus();
}

function rowActions(client, again) {
  const id = encodeURIComponent(client.id);
  return h("div", { class: "row-actions" },
    h("button", { type: "button", onclick: async () => {
      const answer = await confirmed(t("adm_new_key_confirm", { id: client.id }), "POST", `/api-clients/${id}/key`,
        undefined, { what: t("adm_new_key") });
      if (answer) await again(answer);
    } }, t("adm_new_key"), h("span", { class: "visually-hidden" }, ` ${client.id}`)),
    h("button", { type: "button", class: "danger", onclick: async () => {
      const done = await confirmed(t("adm_disable_client_confirm", { id: client.id }), "DELETE", `/api-clients/${id}`,
        undefined, { danger: true, what: t("adm_disable_client") });
      if (done) await again();
    } }, t("adm_disable_client"), h("span", { class: "visually-hidden" }, ` ${client.id}`)));
}

function createForm(areas, wholeTree, again) {
  const id = h("input", { name: "client_id", "data-field": "id", required: true, pattern: "[a-z0-9][a-z0-9\\-]*",
    maxlength: 48, autocomplete: "off" });
  const name = h("input", { name: "client_name", "data-field": "name", required: true, maxlength: 200,
    autocomplete: "off" });
  const access = roleAndArea(CLIENT_ROLES, "alert", areas, { whole: wholeTree });
  return h("form", { class: "admin-form", onsubmit: async (event) => {
    event.preventDefault();
    const client = { id: id.value.trim(), name: name.value.trim(), ...access.value() };
    const made = await confirmed(t("adm_create_client_confirm", { id: client.id, ...access.words() }),
      "POST", "/api-clients", client, { what: t("adm_create_client"), form: event.target });
    if (made) await again(made);
  } },
  h("h2", {}, t("adm_new_client")), field(t("adm_client_id"), id, t("adm_client_id_hint")), field(t("name"), name),
  access.fields, h("button", { type: "submit", class: "primary" }, t("adm_create_client")));
}
