// Shared pieces of the console: confirmation dialogs, the status line, errors shown next to the field
// at fault, work behind a busy button, state badges, tables and the login form.
import { call } from "./api.js";
import { h } from "./dom.js";
import { t, timeZone, zoneOffset } from "./i18n.js";

/** The time zone every time is shown in, for the header ("Giờ GMT+7", its name on hover). */
export function zoneNote() {
  return h("span", { class: "zone", title: timeZone() }, t("zone_note", { offset: zoneOffset() }));
}

/** Ask before doing something that cannot be undone; resolves true when confirmed.
 *  With a password field (step-up confirmation), resolves the password text instead.
 *  With act, the dialog stays open while act(answer) runs and resolves act's result (false when
 *  cancelled): an error about one of the dialog's fields (a wrong password) is shown next to it and
 *  the dialog stays open for another try; any other error closes it and rejects. */
export function confirmDialog(question, { danger = false, password = false, confirmLabel, act = null } = {}) {
  return new Promise((resolve, reject) => {
    const secret = password
      ? h("input", { type: "password", name: "confirm_password", autocomplete: "current-password", required: true })
      : null;
    const okButton = h("button", { value: "ok", type: "submit", class: danger ? "danger" : "primary" },
      confirmLabel || t("confirm"));
    const form = h("form", { method: "dialog", onsubmit: act ? (event) => { event.preventDefault(); acting(); } : null },
      h("p", { id: "confirm-q" }, question),
      secret ? h("label", { class: "field" }, h("span", { class: "label" }, t("password")), secret) : null,
      h("div", { class: "buttons" },
        // Not a submit button: Enter in the password field must confirm, not cancel.
        h("button", { type: "button", onclick: () => dialog.close("cancel") }, t("cancel")), okButton));
    const dialog = h("dialog", { class: danger ? "confirm danger" : "confirm", "aria-labelledby": "confirm-q" }, form);
    const answer = () => (secret ? secret.value : true);
    let outcome = null;  // with act: {value} or {error}
    let running = false;
    dialog.addEventListener("cancel", (event) => { if (running) event.preventDefault(); });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (outcome && outcome.error) reject(outcome.error);
      else if (act) resolve(outcome ? outcome.value : false);
      else resolve(dialog.returnValue === "ok" ? answer() : false);
    });
    document.body.append(dialog);
    dialog.showModal();
    (secret || okButton).focus();

    async function acting() {
      if (running) return;
      running = true;
      okButton.disabled = true;
      clearFieldErrors(form);
      try {
        outcome = { value: await act(answer()) };
      } catch (error) {
        if (showFieldError(form, error)) return;
        outcome = { error };
      } finally {
        running = false;
        okButton.disabled = false;
      }
      dialog.close("ok");
    }
  });
}

let fieldErrors = 0;

/** Show an API error next to the control it is about (error.field names it, by its name or its
 *  data-field), marked invalid and described by the message; false when container has no such control. */
export function showFieldError(container, error) {
  if (!container || !error || !error.field) return false;
  const name = CSS.escape(error.field);
  const control = container.querySelector(`[data-field="${name}"], [name="${name}"]`);
  if (!control) return false;
  const note = h("small", { class: "field-error", id: `field-error-${++fieldErrors}`, role: "alert" }, error.message);
  control.after(note);
  control.setAttribute("aria-invalid", "true");
  control.setAttribute("aria-describedby",
    [control.getAttribute("aria-describedby"), note.id].filter(Boolean).join(" "));
  control.addEventListener("input", () => clearFieldError(control), { once: true });
  control.focus();
  if (typeof control.select === "function") control.select();
  return true;
}

/** Take away the error shown next to a control. */
function clearFieldError(control) {
  const ids = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  for (const id of ids.filter((id) => id.startsWith("field-error-"))) document.getElementById(id)?.remove();
  const kept = ids.filter((id) => !id.startsWith("field-error-"));
  if (kept.length) control.setAttribute("aria-describedby", kept.join(" "));
  else control.removeAttribute("aria-describedby");
  control.removeAttribute("aria-invalid");
}

/** Take away every error shown next to the controls of container. */
export function clearFieldErrors(container) {
  if (!container) return;
  for (const control of container.querySelectorAll("[aria-invalid]")) clearFieldError(control);
}

/** Say something in the status line (read out by screen readers). */
export function say(text, kind = "info") {
  const line = document.getElementById("toast");
  if (!line) return;
  line.textContent = text;
  line.className = kind;
}

/** Empty the status line (an error said there must not outlast what it was about). */
export function clearStatus() {
  say("", "");
}

/** Run work() with button (may be null) disabled; resolves work's answer, or null after saying the
 *  error: next to its field when form (may be null) has that field, else in the status line as
 *  t(failureKey, {reason}). Put what follows success inside work. */
export async function busy(button, work, failureKey = "error", form = null) {
  if (button) button.disabled = true;
  clearFieldErrors(form);
  try {
    return await work();
  } catch (error) {
    if (showFieldError(form, error)) clearStatus();
    else say(t(failureKey, { reason: error.message }), "error");
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

/** A device's state: playing, online or offline. */
export function deviceState(device) {
  if (!device.online) return "offline";
  if (device.not_heard) return "not_heard";  // its microphone heard nothing of its latest play: not on air
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
      { username: data.get("username"), password: data.get("password") }), "login_failed", form);
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
