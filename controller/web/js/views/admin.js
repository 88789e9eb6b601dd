// Administration: one section at a time (areas, users, API clients, devices, audit log, notifications,
// software updates) under tabs that are plain links; each section shows only to a user whose role allows
// it (software updates: to admins of the whole tree).
import { fill, h } from "../dom.js";
import { addStrings, t } from "../i18n.js";
import * as areas from "../admin/areas.js";
import * as audit from "../admin/audit.js";
import * as clients from "../admin/clients.js";
import * as devices from "../admin/devices.js";
import * as notifications from "../admin/notifications.js";
import * as releases from "../admin/releases.js";
import * as users from "../admin/users.js";

addStrings({
  vi: {
    adm_admin_sections: "Các mục quản trị", adm_tab_areas: "Khu vực", adm_tab_users: "Người dùng và vai trò",
    adm_tab_clients: "Ứng dụng kết nối (API)", adm_tab_devices: "Đăng ký cụm loa",
    adm_tab_audit: "Nhật ký thao tác", adm_tab_notifications: "Thông báo sự cố",
    adm_tab_releases: "Cập nhật phần mềm" },
  en: {
    adm_admin_sections: "Administration sections", adm_tab_areas: "Areas", adm_tab_users: "Users and roles",
    adm_tab_clients: "API clients", adm_tab_devices: "Device registration", adm_tab_audit: "Audit log",
    adm_tab_notifications: "Incident notifications", adm_tab_releases: "Software updates" },
});

// Each section: its address, its module, the permission it needs (the API checks the same).
const SECTIONS = [
  { id: "areas", view: areas, permission: "manage_areas" },
  { id: "users", view: users, permission: "manage_users" },
  { id: "clients", view: clients, permission: "manage_users" },
  { id: "devices", view: devices, permission: "manage_devices" },
  { id: "audit", view: audit, permission: "manage_users" },
  { id: "notifications", view: notifications, permission: "manage_notifications" },
  { id: "releases", view: releases, permission: "manage_releases", wholeTree: true },
];

/** Render the administration page (section from the address) into main. */
export async function render(main, [wanted], context) {
  const wholeTree = !context.session.user.area_id;
  const allowed = SECTIONS.filter((s) => context.session.permissions.includes(s.permission)
    && (!s.wholeTree || wholeTree));
  const section = allowed.find((s) => s.id === (wanted || allowed[0]?.id));
  const tabs = h("nav", { class: "tabs", "aria-label": t("adm_admin_sections") }, h("ul", {},
    allowed.map((s) => h("li", {}, h("a", { href: `#/admin/${s.id}`,
      "aria-current": section && s.id === section.id ? "page" : null }, t(`adm_tab_${s.id}`))))));
  const body = h("div", { class: "admin-section" });
  fill(main, h("h1", {}, t("nav_admin")), tabs, body);
  if (!section) {
    fill(body, h("p", {}, t(SECTIONS.some((s) => s.id === wanted) || !wanted ? "forbidden" : "not_found")));
    return null;
  }
  return section.view.render(body, context);
}
