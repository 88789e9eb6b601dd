// The media library: every item with a player; upload a recording (progress of the upload, then of
// its transcoding) or have text spoken, hearing it first (a preview keeps nothing) and saving it when
// it sounds right; delete an item nothing uses any more.
import { call, job, upload } from "../api.js";
import { fill, field, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { spokenText } from "../spoken-text.js";
import { busy, confirmDialog, say, table } from "../ui.js";

addStrings({
  vi: { med_upload: "Tải bản ghi lên", med_file: "Tệp âm thanh (MP3, WAV, OGG, M4A…)",
    med_title_hint: "Để trống: lấy tên tệp", med_send: "Tải lên", med_uploading: "Đang tải lên… {p} %",
    med_transcoding: "Đang chuyển mã… {p} %", med_done: "Xong: «{title}» đã vào thư viện.",
    med_progress: "Tiến độ", med_tts: "Chuyển văn bản thành giọng nói",
    med_text: "Văn bản tiếng Việt (sẽ được đọc)", med_listen: "Nghe thử", med_speaking: "Đang tạo giọng đọc… {p} %",
    med_heard: "Bản nghe thử: chưa lưu vào thư viện, tự xoá sau 10 phút.", med_save_speech: "Lưu vào thư viện",
    med_preview: "Bản nghe thử",
    med_items: "Các bản ghi", med_empty: "Thư viện chưa có bản ghi nào.", med_kind: "Loại",
    med_duration: "Thời lượng", med_who: "Người tạo", med_listen_to: "Nghe «{title}»",
    med_kind_upload: "Tải lên", med_kind_speech: "Giọng đọc", med_kind_recording: "Ghi âm phát trực tiếp", med_choose_file: "Chọn một tệp âm thanh",
    med_give_text: "Viết văn bản cần đọc", med_failed: "Không xử lý được: {reason}",
    med_actions: "Thao tác", med_delete: "Xoá", med_delete_title: "Xoá «{title}»",
    med_delete_confirm: "Xoá hẳn «{title}» khỏi thư viện? Tệp âm thanh cũng bị xoá.",
    med_deleted: "Đã xoá «{title}».", med_not_deleted: "Không xoá được: {reason}" },
  en: { med_upload: "Upload a recording", med_file: "Audio file (MP3, WAV, OGG, M4A…)",
    med_title_hint: "Empty: the file's name", med_send: "Upload", med_uploading: "Uploading… {p} %",
    med_transcoding: "Transcoding… {p} %", med_done: "Done: “{title}” is in the library.",
    med_progress: "Progress", med_tts: "Text to speech",
    med_text: "Vietnamese text (it will be spoken)", med_listen: "Listen", med_speaking: "Making the voice… {p} %",
    med_heard: "A preview: not in the library, removed after 10 minutes.", med_save_speech: "Save in the library",
    med_preview: "Preview",
    med_items: "Recordings", med_empty: "The library is empty.", med_kind: "Kind",
    med_duration: "Length", med_who: "Made by", med_listen_to: "Listen to “{title}”",
    med_kind_upload: "Upload", med_kind_speech: "Speech", med_kind_recording: "Live broadcast recording", med_choose_file: "Choose an audio file",
    med_give_text: "Write the text to speak", med_failed: "Could not process it: {reason}",
    med_actions: "Actions", med_delete: "Delete", med_delete_title: "Delete “{title}”",
    med_delete_confirm: "Delete “{title}” from the library for good? Its audio file goes too.",
    med_deleted: "“{title}” deleted.", med_not_deleted: "Not deleted: {reason}" },
});

const KINDS = ["upload", "speech", "recording"];

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

/** Hear text spoken, keeping nothing: the controller makes a preview that only this user can play, for
 *  ten minutes; it plays in preview under the words note(heard). Resolves to the job's result
 *  ({preview_url, duration_ms, expires_at}). */
export async function hear(text, { progress, preview, note }) {
  const speaking = progress.step("med_speaking");
  fill(preview);
  speaking(0);
  const started = await call("POST", "/speech-previews", { text });
  const heard = await job(started.job_id, speaking);
  progress.element.hidden = true;
  const audio = h("audio", { controls: true, preload: "auto", src: heard.preview_url, "aria-label": t("med_preview") });
  fill(preview, h("p", {}, note(heard)), audio);
  audio.play().catch(() => {});  // the browser may wait for a click on the player
  return heard;
}

/** Render the library into main. */
export async function render(main, _params, context) {
  const editor = context.session.permissions.includes("manage_media");
  const list = h("div", { "aria-live": "polite" });
  const load = async () => fill(list, itemTable(await call("GET", "/media"), editor ? load : null));
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
    await busy(button, () => progress.watch(transcoded(data)), "med_failed", form);
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
  const text = spokenText(t("med_text"), { name: "speech_text", "data-field": "text", rows: 4, lang: "vi", required: true });
  const title = h("input", { name: "speech_title", "data-field": "title", maxlength: 200 });
  const progress = progressBar();
  const preview = h("div", { class: "speech-preview" });
  const listen = h("button", { type: "submit" }, t("med_listen"));
  const save = h("button", { type: "button", class: "primary", onclick: keep }, t("med_save_speech"));
  const form = h("form", { class: "panel media-speech", onsubmit: hearIt }, h("h2", {}, t("med_tts")),
    text.element, field(t("title"), title), h("div", { class: "buttons" }, listen, save), progress.element, preview);
  const words = () => {
    const written = text.textarea.value.trim();
    if (!written) say(t("med_give_text"), "error");
    return written;
  };

  async function hearIt(event) {
    event.preventDefault();
    const written = words();
    if (!written) return;
    await busy(listen, () => progress.watch(hear(written, { progress, preview, note: () => t("med_heard") })),
      "med_failed", form);
  }

  async function keep() {
    const written = words();
    if (!written) return;
    const named = title.value.trim() || written.replace(/\s+/g, " ").slice(0, 60);
    await busy(save, () => progress.watch((async () => {
      const started = await call("POST", "/media/speech", { text: written, title: named });
      const item = await job(started.job_id, progress.step("med_speaking"));
      progress.show(t("med_done", { title: item.title }), 1);
      say(t("med_done", { title: item.title }), "ok");
      text.clear();
      title.value = "";
      fill(preview);
      await reload();
    })()), "med_failed", form);
  }
  return form;
}

function itemTable(items, reload) {
  if (!items.length) return h("p", { class: "muted" }, t("med_empty"));
  const element = table([
    [t("title"), (m) => m.title],
    [t("med_kind"), (m) => t(KINDS.includes(m.kind) ? `med_kind_${m.kind}` : "med_kind_upload")],
    [t("med_duration"), (m) => duration(m.duration_ms)],
    [t("med_who"), (m) => m.created_by],
    [t("when"), (m) => (m.created_at ? when(m.created_at) : "–")],
    [t("med_listen"), (m) => player(m.sha256, m.title)],
    ...(reload ? [[t("med_actions"), (m) => deleteButton(m, reload)]] : []),
  ], items);
  element.classList.add("media-items");
  element.querySelectorAll("tbody tr").forEach((row, i) => { row.dataset.sha256 = items[i].sha256; });
  return element;
}

/** Delete an item after a confirmation; the controller refuses one that is still in use. */
function deleteButton(item, reload) {
  const button = h("button", { type: "button", class: "danger", "aria-label": t("med_delete_title", { title: item.title }),
    onclick: async () => {
      const question = t("med_delete_confirm", { title: item.title });
      if (!(await confirmDialog(question, { danger: true, confirmLabel: t("med_delete") }))) return;
      await busy(button, async () => {
        await call("DELETE", `/media/${encodeURIComponent(item.sha256)}`);
        say(t("med_deleted", { title: item.title }), "ok");
        await reload();
      }, "med_not_deleted");
    } }, t("med_delete"));
  return button;
}
