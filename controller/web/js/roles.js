// The roles of accounts, in words: the header, the lists and the choices never show a role's code.
import { addStrings, t } from "./i18n.js";

addStrings({
  vi: {
    adm_role_admin: "Quản trị viên", adm_role_operator: "Người vận hành", adm_role_approver: "Người phê duyệt",
    adm_role_technician: "Kỹ thuật viên", adm_role_viewer: "Người xem",
    adm_role_alert: "Trung tâm cảnh báo (gửi CAP)" },
  en: {
    adm_role_admin: "Administrator", adm_role_operator: "Operator", adm_role_approver: "Approver",
    adm_role_technician: "Technician", adm_role_viewer: "Viewer", adm_role_alert: "Warning centre (posts CAP)" },
});

/** A role's name in words (an unknown role as it is). */
export function roleName(role) {
  const key = `adm_role_${role}`;
  return t(key) === key ? role : t(key);
}
