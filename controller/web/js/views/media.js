// The media library: every item with a player; upload a recording (progress of the upload, then of
// its transcoding) or have text spoken, listening to it before it is used anywhere.
import { call, job, upload } from "../api.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { busy, say, table } from "../ui.js";

addStrings({
  vi: { med_upload: "Tải bản ghi lên", med_file: "Tệp âm thanh (MP3, WAV, OGG, M4A…)",
    med_title_hint: "Để trống: lấy tên tệp", med_send: "Tải lên", med_uploading: "Đang tải lên… {p} %",
    med_transcoding: "Đang chuyển mã… {p} %", med_done: "Xong: «{title}» đã vào thư viện.",
    med_progress: "Tiến độ", med_tts: "Chuyển văn bản thành giọng nói",
    med_text: "Văn bản tiếng Việt (sẽ được đọc)", med_listen: "Nghe thử", med_speaking: "Đang tạo giọng đọc… {p} %",
    med_spoken: "Nghe lại trước khi dùng: «{title}» (đã lưu trong thư viện).", med_preview: "Bản nghe thử",
    med_items: "Các bản ghi", med_empty: "Thư viện chưa có bản ghi nào.", med_kind: "Loại",
    med_duration: "Thời lượng", med_who: "Người tạo", med_listen_to: "Nghe «{title}»",
    med_kind_upload: "Tải lên", med_kind_speech: "Giọng đọc", med_choose_file: "Chọn một tệp âm thanh",
    med_give_text: "Viết văn bản cần đọc", med_failed: "Không xử lý được: {reason}" },
  en: { med_upload: "Upload a recording", med_file: "Audio file (MP3, WAV, OGG, M4A…)",
    med_title_hint: "Empty: the file's name", med_send: "Upload", med_uploading: "Uploading… {p} %",
    med_transcoding: "Transcoding… {p} %", med_done: "Done: “{title}” is in the library.",
    med_progress: "Progress", med_tts: "Text to speech",
    med_text: "Vietnamese text (it will be spoken)", med_listen: "Listen", med_speaking: "Making the voice… {p} %",
    med_spoken: "Listen before using it: “{title}” (kept in the library).", med_preview: "Preview",
    med_items: "Recordings", med_empty: "The library is empty.", med_kind: "Kind",
    med_duration: "Length", med_who: "Made by", med_listen_to: "Listen to “{title}”",
    med_kind_upload: "Upload", med_kind_speech: "Speech", med_choose_file: "Choose an audio file",
    med_give_text: "Write the text to speak", med_failed: "Could not process it: {reason}" },
});

/** A length in ms as m:ss. */
export function duration(ms) {
  const seconds = Math.round((ms || 0) / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

/** An audio player for a library item (the session cookie authorises the preview). */
export function player(sha256, title) {
  return h("audio", { controls: true, preload: "none", src: `/api/v1/media/${encodeURIComponent(sha256)}/preview`,
    "aria-label": t("med_listen_to", { title }) });
}

/** A progress bar with its words: {element, show(text, fraction), step(key), watch(promise)}.
 *  step(key) gives the onProgress(fraction) that shows t(key, {p: percent}); watch says a failure of
 *  the promise in the bar's words too, and passes the promise on as it is. */
export function progressBar() {
  const bar = h("progress", { max: 1, value: 0, "aria-label": t("med_progress") });
  const words = h("span", { class: "progress-words", role: "status" });
  const element = h("div", { class: "progress", hidden: true }, bar, words);
  function show(text, fraction) {
    element.hidden = false;
    bar.value = fraction;
    words.textContent = text;
  }
  const step = (key) => (fraction) => show(t(key, { p: Math.round(fraction * 100) }), fraction);
  const watch = (promise) => promise.catch((error) => {
    show(t("med_failed", { reason: error.message }), 0);
    throw error;
  });
  return { element, show, step, watch };
}

/** Speak text into the library (following its job on progress), then play it in preview under the
 *  words note(item); the title defaults to the text's start. Resolves to the stored item. */
export async function speak(text, title, areaId, { progress, preview, note }) {
  const speaking = progress.step("med_speaking");
  fill(preview);
  speaking(0);
  const named = title || text.replace(/\s+/g, " ").slice(0, 60);
  const started = await call("POST", "/media/speech", { text, title: named, area_id: areaId || null });
  const item = await job(started.job_id, speaking);
  progress.element.hidden = true;
  const audio = player(item.sha256, item.title);
  fill(preview, h("p", {}, note(item)), audio);
  audio.play().catch(() => {});  // the browser may wait for a click on the player
  return item;
}

/** Render the library into main. */
export async function render(main, _params, context) {
  const editor = context.session.permissions.includes("manage_media");
  const list = h("div", { "aria-live": "polite" });
  const load = async () => fill(list, itemTable(await call("GET", "/media")));
  fill(main, h("h1", {}, t("nav_media")),
    editor ? h("div", { class: "columns" }, uploadForm(load), speechForm(load)) : null,
    h("section", { class: "panel" }, h("h2", {}, t("med_items")), list));
  await load();
}

function uploadForm(reload) {
  const file = h("input", { type: "file", name: "file", accept: "audio/*,.mp3,.wav,.ogg,.opus,.m4a,.flac", required: true });
  const title = h("input", { name: "title", maxlength: 200 });
  const progress = progressBar();
  const button = h("button", { type: "submit", class: "primary" }, t("med_send"));
  const form = h("form", { class: "panel media-upload", onsubmit: send }, h("h2", {}, t("med_upload")),
    field(t("med_file"), file), field(t("title"), title, t("med_title_hint")), button, progress.element);

  async function send(event) {
    event.preventDefault();
    if (!file.files.length) { say(t("med_choose_file"), "error"); return; }
    const data = new FormData();
    data.append("file", file.files[0]);
    if (title.value.trim()) data.append("title", title.value.trim());
    await busy(button, () => progress.watch(transcoded(data)), "med_failed");
  }

  async function transcoded(data) {
    const [uploading, transcoding] = [progress.step("med_uploading"), progress.step("med_transcoding")];
    uploading(0);
    const started = await upload("/media", data, uploading);
    transcoding(0);
    const item = await job(started.job_id, transcoding);
    progress.show(t("med_done", { title: item.title }), 1);
    say(t("med_done", { title: item.title }), "ok");
    form.reset();
    await reload();
  }
  return form;
}

function speechForm(reload) {
  const text = h("textarea", { name: "speech_text", rows: 4, maxlength: 5000, lang: "vi", required: true });
  const title = h("input", { name: "speech_title", maxlength: 200 });
  const progress = progressBar();
  const preview = h("div", { class: "speech-preview" });
  const button = h("button", { type: "submit", class: "primary" }, t("med_listen"));
  const form = h("form", { class: "panel media-speech", onsubmit: listen }, h("h2", {}, t("med_tts")),
    field(t("med_text"), text), field(t("title"), title), button, progress.element, preview);

  async function listen(event) {
    event.preventDefault();
    const words = text.value.trim();
    if (!words) { say(t("med_give_text"), "error"); return; }
    const note = (item) => t("med_spoken", { title: item.title });
    await busy(button, () => progress.watch(speak(words, title.value.trim(), null, { progress, preview, note })
      .then(reload)), "med_failed");
  }
  return form;
}

function itemTable(items) {
  if (!items.length) return h("p", { class: "muted" }, t("med_empty"));
  const element = table([
    [t("title"), (m) => m.title],
    [t("med_kind"), (m) => t(m.kind === "speech" ? "med_kind_speech" : "med_kind_upload")],
    [t("med_duration"), (m) => duration(m.duration_ms)],
    [t("med_who"), (m) => m.created_by],
    [t("when"), (m) => (m.created_at ? when(m.created_at) : "–")],
    [t("med_listen"), (m) => player(m.sha256, m.title)],
  ], items);
  element.classList.add("media-items");
  element.querySelectorAll("tbody tr").forEach((row, i) => { row.dataset.sha256 = items[i].sha256; });
  return element;
}
