// Bulletins: the approval queue (for approvers, with each bulletin's text and a player), a new
// bulletin from a library item, from text heard before it is saved (the preview keeps nothing; the
// saved bulletin's text is spoken again), or from a station relayed for a window; the bulletins in
// scope with their status, a player and what may be done next (submit, approve or reject, schedule).
import { call } from "../api.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { spokenText } from "../spoken-text.js";
import { busy, say, table } from "../ui.js";
import { bulletinsChanged } from "../waiting.js";
import { duration, hear, player, progressBar } from "./media.js";

addStrings({
  vi: { bul_queue: "Chờ phê duyệt", bul_queue_empty: "Không có bản tin nào chờ duyệt.",
    bul_new: "Soạn bản tin", bul_list: "Các bản tin", bul_empty: "Chưa có bản tin nào.",
    bul_source: "Nguồn âm thanh", bul_src_media: "Bản ghi trong thư viện", bul_src_text: "Văn bản (đọc bằng giọng nói)",
    bul_src_relay: "Tiếp sóng một đài", bul_media: "Bản ghi", bul_text: "Văn bản tiếng Việt",
    bul_listen: "Nghe thử", bul_heard: "Nghe lại trước khi lưu. Sửa văn bản thì phải nghe thử lại.",
    bul_listen_first: "Hãy bấm «Nghe thử» và nghe trước khi lưu.", bul_relay_url: "Địa chỉ luồng của đài (http/https)",
    bul_window: "Độ dài mỗi lần phát (phút)", bul_save: "Lưu bản tin", bul_saved: "Đã lưu bản tin «{title}» (bản nháp).",
    bul_choose_media: "Chọn một bản ghi", bul_give_url: "Nhập địa chỉ luồng của đài",
    bul_level_background: "Nền", bul_level_normal: "Thường", bul_level_priority: "Ưu tiên",
    bul_level_emergency: "Khẩn cấp", bul_st_preparing: "Đang chuẩn bị", bul_st_draft: "Bản nháp",
    bul_st_pending: "Chờ duyệt", bul_st_approved: "Đã duyệt", bul_st_rejected: "Bị từ chối", bul_st_failed: "Lỗi",
    bul_failed_note: "không đọc được văn bản thành tiếng (hoặc máy chủ dừng giữa chừng); hãy soạn lại bản tin",
    bul_audio: "Nghe", bul_actions: "Thao tác", bul_who: "Người soạn", bul_note: "Ghi chú",
    bul_note_for: "Ghi chú cho «{title}»", bul_submit: "Gửi duyệt", bul_approve: "Duyệt", bul_reject: "Từ chối",
    bul_schedule: "Lên lịch", bul_submitted: "«{title}»: {status}",
    bul_relay: "Tiếp sóng {url} · {minutes} phút", bul_none: "— chọn —", bul_choose_area: "Chọn khu vực của bản tin" },
  en: { bul_queue: "Waiting for approval", bul_queue_empty: "No bulletin is waiting for approval.",
    bul_new: "New bulletin", bul_list: "Bulletins", bul_empty: "No bulletins yet.",
    bul_source: "Its sound", bul_src_media: "A recording of the library", bul_src_text: "Text (spoken)",
    bul_src_relay: "Relay a station", bul_media: "Recording", bul_text: "Vietnamese text",
    bul_listen: "Listen", bul_heard: "Listen before saving. Changing the text means listening again.",
    bul_listen_first: "Press “Listen” and hear it before saving.", bul_relay_url: "The station's stream (http/https)",
    bul_window: "Length of each window (minutes)", bul_save: "Save the bulletin", bul_saved: "Saved “{title}” (draft).",
    bul_choose_media: "Choose a recording", bul_give_url: "Give the station's stream address",
    bul_level_background: "Background", bul_level_normal: "Normal", bul_level_priority: "Priority",
    bul_level_emergency: "Emergency", bul_st_preparing: "Preparing", bul_st_draft: "Draft",
    bul_st_pending: "Waiting for approval", bul_st_approved: "Approved", bul_st_rejected: "Rejected",
    bul_failed_note: "the text could not be spoken (or the controller stopped meanwhile); draft the bulletin again",
    bul_st_failed: "Failed", bul_audio: "Listen", bul_actions: "Actions", bul_who: "Written by", bul_note: "Note",
    bul_note_for: "Note for “{title}”", bul_submit: "Submit", bul_approve: "Approve", bul_reject: "Reject",
    bul_schedule: "Schedule", bul_submitted: "“{title}”: {status}",
    bul_relay: "Relay {url} · {minutes} min", bul_none: "— choose —", bul_choose_area: "Choose the bulletin's area" },
});

const LEVELS = ["background", "normal", "priority", "emergency"];
const SOURCES = ["media", "text", "relay"];

/** Render the bulletins page into main; returns the function that stops refreshing it. */
export async function render(main, _params, context) {
  const allowed = (permission) => context.session.permissions.includes(permission);
  const queue = h("section", { class: "panel approval-queue" });
  const list = h("div", { "aria-live": "polite" });
  let timer = null;
  let left = false;  // the page was left: refresh no more
  const [areas, media] = await Promise.all([call("GET", "/areas"),
    allowed("schedule") ? call("GET", "/media") : Promise.resolve([])]);
  const names = new Map(areas.map((a) => [a.id, a.name]));
  const areaName = (id) => names.get(id) || id;

  async function load() {
    const bulletins = await call("GET", "/bulletins");
    if (allowed("approve")) {
      fill(queue, h("h2", {}, t("bul_queue")),
        queueTable(bulletins.filter((b) => b.status === "pending"), areaName, load));
    }
    fill(list, bulletinTable(bulletins, areaName, allowed, load));
    clearTimeout(timer);  // a bulletin spoken in the background becomes a draft by itself
    if (!left && bulletins.some((b) => b.status === "preparing")) timer = setTimeout(() => load().catch(() => {}), 2000);
  }

  fill(main, h("h1", {}, t("nav_bulletins")), allowed("approve") ? queue : null,
    allowed("schedule") ? createForm(areas, media, context.session.user, load) : null,
    h("section", { class: "panel" }, h("h2", {}, t("bul_list")), list));
  await load();
  return () => { left = true; clearTimeout(timer); };
}

function createForm(areas, media, user, reload) {
  const title = h("input", { name: "title", maxlength: 200, required: true });
  const level = h("select", { name: "level" },
    LEVELS.map((l) => h("option", { value: l, selected: l === "normal" }, t(`bul_level_${l}`))));
  const own = areas.some((a) => a.id === user.area_id);
  const area = h("select", { name: "area_id" }, own ? null : h("option", { value: "" }, t("bul_none")),
    areas.map((a) => h("option", { value: a.id, selected: a.id === user.area_id }, `${a.name} (${a.id})`)));
  const sources = h("fieldset", { class: "bulletin-source" }, h("legend", {}, t("bul_source")),
    SOURCES.map((s) => h("label", {}, h("input", { type: "radio", name: "source", value: s, checked: s === "media" }),
      ` ${t(`bul_src_${s}`)}`)));
  const parts = { media: mediaPart(media), text: textPart(), relay: relayPart() };
  const button = h("button", { type: "submit", class: "primary big" }, t("bul_save"));
  const form = h("form", { class: "panel bulletin-new", onsubmit: save }, h("h2", {}, t("bul_new")),
    field(t("title"), title), h("div", { class: "inline-fields" }, field(t("level"), level), field(t("area"), area)),
    sources, Object.values(parts).map((p) => p.element), button);
  const chosen = () => form.querySelector("input[name=source]:checked").value;
  const show = () => { for (const [s, p] of Object.entries(parts)) p.element.hidden = s !== chosen(); };
  sources.addEventListener("change", show);
  show();

  async function save(event) {
    event.preventDefault();
    if (!area.value) { say(t("bul_choose_area"), "error"); return; }
    const source = parts[chosen()].body();
    if (!source) return;
    await busy(button, async () => {
      const bulletin = await call("POST", "/bulletins", { title: title.value.trim(), level: level.value,
        area_id: area.value, ...source });
      say(t("bul_saved", { title: bulletin.title }), "ok");
      title.value = "";
      Object.values(parts).forEach((p) => p.reset());
      await reload();
    }, "error", form);
  }
  return form;
}

function mediaPart(media) {
  const select = h("select", { name: "media_sha256" }, h("option", { value: "" }, t("bul_none")),
    media.map((m) => h("option", { value: m.sha256 }, `${m.title} · ${duration(m.duration_ms)}`)));
  return {
    element: h("div", { class: "source-part" }, field(t("bul_media"), select)),
    body: () => (select.value ? { media_sha256: select.value } : fail(t("bul_choose_media"))),
    reset: () => { select.value = ""; },
  };
}

// Text is heard first (a preview that keeps nothing); the bulletin is saved with the text heard, and
// the controller speaks it into the library.
function textPart() {
  const text = spokenText(t("bul_text"), { name: "text", rows: 4, lang: "vi" });
  const progress = progressBar();
  const preview = h("div", { class: "speech-preview" });
  const button = h("button", { type: "button", onclick: listen }, t("bul_listen"));
  let heard = null;  // the text of the preview
  const forget = () => { heard = null; fill(preview); };
  text.textarea.addEventListener("input", forget);

  async function listen() {
    const words = text.textarea.value.trim();
    if (!words) { say(t("med_give_text"), "error"); return; }
    forget();
    const done = await busy(button, () => progress.watch(hear(words, { progress, preview,
      note: () => t("bul_heard") })), "med_failed", text.element);
    if (done) heard = words;
  }

  return {
    element: h("div", { class: "source-part" }, text.element, button, progress.element, preview),
    body: () => (heard && heard === text.textarea.value.trim() ? { text: heard } : fail(t("bul_listen_first"))),
    reset: () => { text.clear(); progress.element.hidden = true; forget(); },
  };
}

function relayPart() {
  const url = h("input", { name: "relay_url", type: "url", placeholder: "https://", maxlength: 2000 });
  const minutes = h("input", { name: "window_minutes", type: "number", min: 1, max: 1440, step: 1, value: 60 });
  return {
    element: h("div", { class: "source-part" }, field(t("bul_relay_url"), url), field(t("bul_window"), minutes)),
    body: () => (url.value.trim()
      ? { relay_url: url.value.trim(), duration_ms: Math.round(Number(minutes.value) * 60_000) }
      : fail(t("bul_give_url"))),
    reset: () => { url.value = ""; minutes.value = 60; },
  };
}

function fail(text) {
  say(text, "error");
  return null;
}

function statusBadge(status) {
  return h("span", { class: `bulletin-status ${status}` }, t(`bul_st_${status}`));
}

function sound(b) {
  if (b.media_sha256) return player(b.media_sha256, b.title);
  if (b.relay_url) return t("bul_relay", { url: b.relay_url, minutes: Math.round((b.duration_ms || 0) / 60_000) });
  return "…";
}

// A failed bulletin's note is the controller's (English) account of the failure: the console says it
// in its own words; any other note is a person's (an approver's reason) and is shown as written.
function titled(b) {
  const note = b.status === "failed" ? t("bul_failed_note") : b.note;
  return [h("strong", {}, b.title), note ? h("small", { class: "bulletin-note" }, ` · ${t("bul_note")}: ${note}`) : null];
}

/** The title with the text that is read out (for a spoken bulletin), as an approver reads it. */
function titledWithText(b) {
  return [h("strong", {}, b.title), b.text ? h("p", { class: "bulletin-text", lang: "vi" }, b.text) : null];
}

function withIds(element, bulletins) {
  element.querySelectorAll("tbody tr").forEach((row, i) => { row.dataset.bulletin = bulletins[i].id; });
  return element;
}

function bulletinTable(bulletins, areaName, allowed, reload) {
  if (!bulletins.length) return h("p", { class: "muted" }, t("bul_empty"));
  return withIds(table([
    [t("title"), titled],
    [t("level"), (b) => h("span", { class: `level ${b.level}` }, t(`bul_level_${b.level}`))],
    [t("state"), (b) => statusBadge(b.status)],
    [t("area"), (b) => areaName(b.area_id)],
    [t("bul_who"), (b) => b.created_by],
    [t("when"), (b) => when(b.created_at)],
    [t("bul_audio"), sound],
    [t("bul_actions"), (b) => actions(b, allowed, reload)],
  ], bulletins), bulletins);
}

function actions(b, allowed, reload) {
  if ((b.status === "draft" || b.status === "rejected") && allowed("schedule")) {
    return h("button", { type: "button", onclick: (event) => act(event.currentTarget, b, "submit", {}, reload) },
      t("bul_submit"));
  }
  if (b.status === "approved" && allowed("schedule")) {
    return h("a", { href: `#/schedule?bulletin=${encodeURIComponent(b.id)}`, class: "button-link" }, t("bul_schedule"));
  }
  return null;
}

function queueTable(pending, areaName, reload) {
  if (!pending.length) return h("p", { class: "muted" }, t("bul_queue_empty"));
  return withIds(table([
    [t("title"), titledWithText],
    [t("level"), (b) => h("span", { class: `level ${b.level}` }, t(`bul_level_${b.level}`))],
    [t("area"), (b) => areaName(b.area_id)],
    [t("bul_who"), (b) => b.created_by],
    [t("when"), (b) => when(b.created_at)],
    [t("bul_audio"), sound],
    [t("bul_actions"), (b) => decision(b, reload)],
  ], pending), pending);
}

function decision(b, reload) {
  const note = h("input", { name: "note", maxlength: 500, "aria-label": t("bul_note_for", { title: b.title }) });
  const button = (action, primary) => h("button", { type: "button", class: primary ? "primary" : null,
    onclick: (event) => act(event.currentTarget, b, action, { note: note.value }, reload) }, t(`bul_${action}`));
  return h("div", { class: "decision" }, note, button("approve", true), button("reject", false));
}

/** Submit, approve or reject a bulletin (button busy meanwhile), then show the bulletins again. */
function act(button, b, action, body, reload) {
  return busy(button, async () => {
    const changed = await call("POST", `/bulletins/${encodeURIComponent(b.id)}/${action}`, body);
    say(t("bul_submitted", { title: changed.title, status: t(`bul_st_${changed.status}`) }), "ok");
    bulletinsChanged();
    await reload();
  });
}
