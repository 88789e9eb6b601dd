// Administration of users: the list in your scope, a new user with a role over an area, a changed
// role or area, disabling (or enabling again). Every change ends that user's logins (server side).
import { call } from "../api.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { table } from "../ui.js";
import { accountState, areaNames, confirmed, redraw, roleAndArea, roleName, USER_ROLES } from "./parts.js";

addStrings({
  vi: {
    adm_users: "Người dùng", adm_new_user: "Thêm người dùng", adm_full_name: "Họ và tên",
    adm_new_password: "Mật khẩu ban đầu",
    adm_password_hint: "Ít nhất 10 ký tự; người dùng nên đổi sau khi đăng nhập.",
    adm_create_user: "Tạo người dùng", adm_create_user_confirm: "Tạo người dùng {user} ({role}, {area})?",
    adm_change_user: "Đổi vai trò / khu vực của {user}",
    adm_change_user_confirm: "Đổi {user} thành {role} ở {area}? Người này sẽ phải đăng nhập lại.",
    adm_disable: "Khoá", adm_enable: "Mở khoá",
    adm_disable_confirm: "Khoá tài khoản {user}? Người này bị đăng xuất ngay.",
    adm_enable_confirm: "Mở khoá tài khoản {user}?", adm_created: "Ngày tạo", adm_you: "(bạn)",
    adm_no_users: "Chưa có người dùng nào." },
  en: {
    adm_users: "Users", adm_new_user: "Add a user", adm_full_name: "Full name",
    adm_new_password: "First password",
    adm_password_hint: "At least 10 characters; the user should change it after logging in.",
    adm_create_user: "Create the user", adm_create_user_confirm: "Create the user {user} ({role}, {area})?",
    adm_change_user: "Change the role / area of {user}",
    adm_change_user_confirm: "Make {user} {role} over {area}? They will have to log in again.",
    adm_disable: "Disable", adm_enable: "Enable",
    adm_disable_confirm: "Disable the account {user}? They are logged out at once.",
    adm_enable_confirm: "Enable {user} again?", adm_created: "Created", adm_you: "(you)",
    adm_no_users: "No users yet." },
});

/** Render the users section into body. */
export async function render(body, context) {
  const [users, areas] = await Promise.all([call("GET", "/users"), call("GET", "/areas")]);
  const me = context.session.user;
  const wholeTree = !me.area_id;
  const editor = h("div", { class: "admin-action", "aria-live": "polite" });
  const again = redraw(render, body, context);
  const areaName = areaNames(areas);
  fill(body,
    h("section", { class: "panel" }, h("h2", {}, t("adm_users")), editor,
      users.length ? table([
        [t("username"), (u) => [u.username, u.username === me.username ? ` ${t("adm_you")}` : ""]],
        [t("adm_full_name"), (u) => u.full_name],
        [t("adm_role"), (u) => roleName(u.role)],
        [t("area"), (u) => areaName(u.area_id)],
        [t("state"), (u) => accountState(u)],
        [t("adm_created"), (u) => when(u.created_at)],
        [t("adm_actions_col"), (u) => (u.username === me.username ? "" : rowActions(u))],
      ], users) : h("p", { class: "muted" }, t("adm_no_users"))),
    h("section", { class: "panel" }, createForm(areas, wholeTree, again)));

  function rowActions(user) {
    return h("div", { class: "row-actions" },
      h("button", { type: "button", onclick: () => showEdit(user) }, t("adm_edit"),
        h("span", { class: "visually-hidden" }, ` ${user.username}`)),
      h("button", { type: "button", class: user.disabled ? "" : "danger", onclick: async () => {
        const disabled = !user.disabled;
        const done = await confirmed(t(disabled ? "adm_disable_confirm" : "adm_enable_confirm", { user: user.username }),
          "PATCH", `/users/${user.id}`, { disabled }, { danger: disabled, what: t(disabled ? "adm_disable" : "adm_enable") });
        if (done) await again();
      } }, t(user.disabled ? "adm_enable" : "adm_disable"),
      h("span", { class: "visually-hidden" }, ` ${user.username}`)));
  }

  function showEdit(user) {
    const access = roleAndArea(USER_ROLES, user.role, areas, { areaId: user.area_id, whole: wholeTree });
    fill(editor, h("form", { class: "admin-form inline-panel", onsubmit: async (event) => {
      event.preventDefault();
      const done = await confirmed(t("adm_change_user_confirm", { user: user.username, ...access.words() }),
        "PATCH", `/users/${user.id}`, access.value(), { what: t("adm_change_user", { user: user.username }) });
      if (done) await again();
    } }, h("h3", {}, t("adm_change_user", { user: user.username })), access.fields,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t("save")),
      h("button", { type: "button", onclick: () => fill(editor) }, t("cancel")))));
    access.focus();
  }
}

function createForm(areas, wholeTree, again) {
  const username = h("input", { name: "new_username", "data-field": "username", required: true, autocomplete: "off",
    pattern: "[a-z0-9][a-z0-9._\\-]{2,63}" });
  const fullName = h("input", { name: "full_name", maxlength: 200, autocomplete: "off" });
  const password = h("input", { type: "password", name: "new_password", "data-field": "password", required: true,
    minlength: 10, autocomplete: "new-password" });
  const access = roleAndArea(USER_ROLES, "operator", areas, { whole: wholeTree });
  return h("form", { class: "admin-form", onsubmit: async (event) => {
    event.preventDefault();
    const user = { username: username.value.trim(), full_name: fullName.value.trim(), password: password.value,
      ...access.value() };
    const made = await confirmed(t("adm_create_user_confirm", { user: user.username, ...access.words() }),
      "POST", "/users", user, { what: t("adm_create_user"), form: event.target });
    if (made) await again();
  } },
  h("h2", {}, t("adm_new_user")), field(t("username"), username), field(t("adm_full_name"), fullName),
  field(t("adm_new_password"), password, t("adm_password_hint")), access.fields,
  h("button", { type: "submit", class: "primary" }, t("adm_create_user")));
}
