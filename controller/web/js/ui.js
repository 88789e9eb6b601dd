// Shared pieces of the console: confirmation dialogs, the status line, work behind a busy button,
// state badges, tables and the login form.
import { call } from "./api.js";
import { h } from "./dom.js";
import { t, timeZone, zoneOffset } from "./i18n.js";

/** The time zone every time is shown in, for the header ("Giờ GMT+7", its name on hover). */
export function zoneNote() {
  return h("span", { class: "zone", title: timeZone() }, t("zone_note", { offset: zoneOffset() }));
}

/** Ask before doing something that cannot be undone; resolves true when confirmed.
 *  With a password field (step-up confirmation), resolves the password text instead. */
export function confirmDialog(question, { danger = false, password = false, confirmLabel } = {}) {
  return new Promise((resolve) => {
    const secret = password
      ? h("input", { type: "password", name: "confirm_password", autocomplete: "current-password", required: true })
      : null;
    const dialog = h("dialog", { class: danger ? "confirm danger" : "confirm", "aria-labelledby": "confirm-q" },
      h("form", { method: "dialog" },
        h("p", { id: "confirm-q" }, question),
        secret ? h("label", { class: "field" }, h("span", { class: "label" }, t("password")), secret) : null,
        h("div", { class: "buttons" },
          // Not a submit button: Enter in the password field must confirm, not cancel.
          h("button", { type: "button", onclick: () => dialog.close("cancel") }, t("cancel")),
          h("button", { value: "ok", type: "submit", class: danger ? "danger" : "primary" },
            confirmLabel || t("confirm")))));
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (dialog.returnValue !== "ok") resolve(false);
      else resolve(secret ? secret.value : true);
    });
    document.body.append(dialog);
    dialog.showModal();
    (secret || dialog.querySelector("button.primary, button.danger")).focus();
  });
}

/** Say something in the status line (read out by screen readers). */
export function say(text, kind = "info") {
  const line = document.getElementById("toast");
  if (!line) return;
  line.textContent = text;
  line.className = kind;
}

/** Run work() with button (may be null) disabled; resolves work's answer, or null after saying the
 *  error in the status line as t(failureKey, {reason}). Put what follows success inside work. */
export async function busy(button, work, failureKey = "error") {
  if (button) button.disabled = true;
  try {
    return await work();
  } catch (error) {
    say(t(failureKey, { reason: error.message }), "error");
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

/** A device's state: playing, online or offline. */
export function deviceState(device) {
  if (!device.online) return "offline";
  return device.playing ? "playing" : "online";
}

/** A coloured badge with the state's word (colour is never the only sign). */
export function stateBadge(state) {
  return h("span", { class: `badge ${state}` }, t(state));
}

/** A small table from rows: columns are [heading, cell(row)]. On a phone each row becomes a block
 *  whose cells are named by their column (table.stack in app.css). */
export function table(columns, rows, caption) {
  return h("table", { class: "stack" },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
    h("tbody", {}, rows.map((row) => h("tr", {},
      columns.map(([heading, cell]) => h("td", { "data-label": heading }, cell(row)))))));
}

/** The login form: heading, user name, password; onSession gets the opened console session. */
export function loginForm(heading, onSession) {
  const button = h("button", { type: "submit", class: "primary" }, t("login"));
  const form = h("form", { class: "login", onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const session = await busy(button, () => call("POST", "/auth/session",
      { username: data.get("username"), password: data.get("password") }), "login_failed");
    if (session) onSession(session);
  } },
  h("h1", {}, heading),
  h("label", { class: "field" }, h("span", { class: "label" }, t("username")),
    h("input", { name: "username", autocomplete: "username", required: true })),
  h("label", { class: "field" }, h("span", { class: "label" }, t("password")),
    h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
  button);
  return form;
}
