// Text to be spoken: a text box that says while typing how many characters it holds and the limit,
// counted as the controller counts them (a run of spaces and line breaks is one). Nothing is cut:
// text over the limit is refused by the controller, in the console's words.
import { field, h } from "./dom.js";
import { addStrings, language, t } from "./i18n.js";

export const MAX_TEXT_CHARS = 5000;

addStrings({
  vi: { st_count: "{n} / {max} ký tự", st_over: "{n} / {max} ký tự: quá dài, hãy rút gọn" },
  en: { st_count: "{n} / {max} characters", st_over: "{n} / {max} characters: too long, shorten it" },
});

let made = 0;

/** Characters of text as the controller counts them. */
export function spokenLength(text) {
  return text.replace(/\s+/g, " ").trim().length;
}

/** A labelled text box with its count: {element, textarea, clear()}; attributes go to the textarea. */
export function spokenText(label, attributes) {
  const id = `spoken-count-${++made}`;
  const textarea = h("textarea", { ...attributes, "aria-describedby": id });
  const count = h("small", { id, class: "hint spoken-count" });
  const number = (n) => n.toLocaleString(language() === "en" ? "en-GB" : "vi-VN");
  function update() {
    const n = spokenLength(textarea.value);
    const over = n > MAX_TEXT_CHARS;
    count.textContent = t(over ? "st_over" : "st_count", { n: number(n), max: number(MAX_TEXT_CHARS) });
    count.classList.toggle("over", over);
    if (over) textarea.setAttribute("aria-invalid", "true"); else textarea.removeAttribute("aria-invalid");
  }
  textarea.addEventListener("input", update);
  update();
  return {
    element: h("div", { class: "spoken-text" }, field(label, textarea), count),
    textarea,
    clear() { textarea.value = ""; update(); },
  };
}
