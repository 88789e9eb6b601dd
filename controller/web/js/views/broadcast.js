// Broadcast now: an approved bulletin, a library file or text spoken now, at normal or priority
// level, to areas chosen in a tree that counts their clusters; confirmed first, then delivery is
// followed live, device by device, with a (confirmed) button that stops the broadcast. Where a chosen
// area (or one below it) requires approval, only a bulletin an approver approved may go: the page
// says so before anything is confirmed.
import { call } from "../api.js";
import { areaTree } from "../area-tree.js";
import { deliveryBoard } from "../delivery.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { spokenText } from "../spoken-text.js";
import { busy, confirmDialog, say } from "../ui.js";

addStrings({
  vi: { bc_title: "Phát ngay", bc_source: "Nguồn phát", bc_src_bulletin: "Bản tin đã duyệt",
    bc_src_media: "Bản ghi trong thư viện", bc_src_text: "Văn bản (sẽ được đọc)", bc_bulletin: "Bản tin",
    bc_media: "Bản ghi", bc_text: "Nội dung cần đọc", bc_level: "Mức phát", bc_normal: "Thường",
    bc_priority: "Ưu tiên (ngắt chương trình thường)", bc_emergency_hint: "Cảnh báo khẩn cấp có trang riêng: ",
    bc_reach: "Phạm vi: {n} cụm loa", bc_send: "Phát ngay…",
    bc_confirm: "Phát «{what}» ({level}) tới {n} cụm loa ở {areas}?", bc_preparing: "Đang chuẩn bị phát…",
    bc_on_air: "Đang phát «{title}»", bc_finished: "Đã phát xong «{title}»", bc_stop: "Dừng phát",
    bc_stop_confirm: "Dừng «{title}» trên mọi cụm loa?", bc_stopped: "Đã dừng «{title}».", bc_none: "— không có —",
    bc_pick: "— chọn —", bc_choose_source: "Chọn hoặc viết nội dung cần phát",
    bc_sent: "Đã gửi «{title}» tới {n} cụm loa.",
    bc_approval: "{areas} yêu cầu duyệt trước khi phát: ở đó chỉ phát được bản tin đã được người duyệt chấp thuận. "
      + "Hãy soạn bản tin và gửi duyệt ở trang ", bc_to_bulletins: "Bản tin",
    bc_reply: "Trả lời / đính chính cho (không bắt buộc)", bc_reply_none: "— không —",
    bc_reply_hint: "Chọn buổi phát hoặc cảnh báo trước đó mà bản tin này đính chính, hủy bỏ hoặc trả lời; "
      + "báo cáo sẽ ghi cặp này." },
  en: { bc_title: "Broadcast now", bc_source: "Source", bc_src_bulletin: "An approved bulletin",
    bc_src_media: "A recording from the library", bc_src_text: "Text (it will be spoken)", bc_bulletin: "Bulletin",
    bc_media: "Recording", bc_text: "Text to be spoken", bc_level: "Level", bc_normal: "Normal",
    bc_priority: "Priority (cuts into normal programmes)",
    bc_emergency_hint: "Emergency warnings have their own page: ", bc_reach: "Reach: {n} clusters",
    bc_send: "Broadcast now…", bc_confirm: "Broadcast “{what}” ({level}) to {n} clusters in {areas}?",
    bc_preparing: "Getting ready…", bc_on_air: "On the air: “{title}”", bc_finished: "Finished: “{title}”",
    bc_stop: "Stop the broadcast", bc_stop_confirm: "Stop “{title}” on every cluster?",
    bc_stopped: "“{title}” stopped.", bc_none: "— none —", bc_pick: "— choose —",
    bc_choose_source: "Choose or write what to broadcast", bc_sent: "“{title}” sent to {n} clusters.",
    bc_approval: "{areas} require approval: only a bulletin an approver approved plays there. "
      + "Write one and submit it for approval on the page ", bc_to_bulletins: "Bulletins",
    bc_reply: "In reply to (optional)", bc_reply_none: "— none —",
    bc_reply_hint: "Choose the earlier broadcast or alert this one corrects, retracts or answers; the report "
      + "shows the pair." },
});

const SOURCES = ["bulletin", "media", "text"];

/** Render the broadcast page into main; returns the function that stops following delivery. */
export async function render(main) {
  const [areas, devices, bulletins, media, earlier] = await Promise.all([call("GET", "/areas"),
    call("GET", "/devices", undefined, { limit: 5000 }), call("GET", "/bulletins", undefined, { status: "approved" }),
    call("GET", "/media"), call("GET", "/broadcasts", undefined, { limit: 50 })]);
  const reply = h("select", { name: "in_reply_to" }, h("option", { value: "" }, t("bc_reply_none")),
    earlier.map((b) => h("option", { value: b.id }, `${b.title} · ${when(b.start_ms || b.created_at)}`)));
  const playable = bulletins.filter((b) => b.media_sha256);
  const source = sourcePicker(playable, media);
  const level = levelPicker();
  const reach = h("p", { class: "reach", role: "status" }, t("bc_reach", { n: 0 }));
  const tree = areaTree(areas, devices, {
    onChange: () => { reach.textContent = t("bc_reach", { n: tree.reach() }); checkApproval(); },
  });
  const rule = h("p", { class: "approval-rule", role: "status", hidden: true });
  const send = h("button", { type: "submit", class: "primary big" }, t("bc_send"));
  const follow = h("div", {});
  let stopFollowing = () => {};
  const form = h("form", { class: "panel broadcast-form", onsubmit: (event) => { event.preventDefault(); submit(); } },
    source.element, level.element, field(t("bc_reply"), reply, t("bc_reply_hint")),
    h("p", { class: "muted" }, t("bc_emergency_hint"), h("a", { href: "#/emergency" }, t("nav_emergency"))),
    tree.element, reach, rule, send);
  fill(main, h("h1", {}, t("bc_title")), form, follow);
  source.element.addEventListener("change", checkApproval);

  /** Where approval is required and the source is not a bulletin an approver approved, say so and
   *  keep the broadcast from being sent. */
  function checkApproval() {
    const asking = source.needsReview() ? approvalAreas(areas, tree.chosen()) : [];
    rule.hidden = !asking.length;
    send.disabled = asking.length > 0;
    if (asking.length) {
      fill(rule, t("bc_approval", { areas: asking.join(", ") }), h("a", { href: "#/bulletins" }, t("bc_to_bulletins")), ".");
    }
  }

  async function submit() {
    const chosen = source.value();
    if (!chosen) { say(t("bc_choose_source"), "error"); return; }
    if (!tree.chosen().length) { say(t("choose_targets"), "error"); return; }
    const question = t("bc_confirm", { what: chosen.label, level: level.label(), n: tree.reach(),
      areas: tree.names().join(", ") });
    if (!(await confirmDialog(question, { confirmLabel: t("bc_send") }))) return;
    say(t("bc_preparing"));
    const body = { level: level.value(), area_ids: tree.chosen(), ...chosen.body };
    if (reply.value) body.in_reply_to = reply.value;
    await busy(send, async () => {
      const broadcast = await call("POST", "/broadcasts", body);
      say(t("bc_sent", { title: broadcast.title, n: tree.reach() }), "ok");
      stopFollowing();
      stopFollowing = showDelivery(follow, broadcast);
    }, "error", form);
  }
  return () => stopFollowing();
}

/** The source: radio buttons, then the control of the chosen one. value() gives {body, label} or null. */
function sourcePicker(bulletins, media) {
  const bulletin = h("select", { name: "bulletin_id" },
    h("option", { value: "" }, bulletins.length ? t("bc_pick") : t("bc_none")),
    bulletins.map((b) => h("option", { value: b.id }, `${b.title} (${b.area_id})`)));
  const recording = h("select", { name: "media_sha256" },
    h("option", { value: "" }, media.length ? t("bc_pick") : t("bc_none")),
    media.map((m) => h("option", { value: m.sha256 }, `${m.title} · ${Math.round(m.duration_ms / 1000)} s`)));
  const spoken = spokenText(t("bc_text"), { name: "text", rows: 3 });
  const text = spoken.textarea;
  const controls = { bulletin: field(t("bc_bulletin"), bulletin), media: field(t("bc_media"), recording),
    text: spoken.element };
  const first = bulletins.length ? "bulletin" : "text";
  const radios = SOURCES.map((kind) => h("label", {}, h("input", { type: "radio", name: "source", value: kind,
    checked: kind === first }), ` ${t("bc_src_" + kind)}`));
  const element = h("fieldset", { class: "targets choice" }, h("legend", {}, t("bc_source")), radios,
    SOURCES.map((kind) => controls[kind]));
  const kind = () => element.querySelector("input[name=source]:checked").value;
  const show = () => { for (const k of SOURCES) controls[k].hidden = k !== kind(); };
  element.addEventListener("change", show);
  show();
  const reviewed = new Set(bulletins.filter((b) => b.reviewed).map((b) => b.id));
  return {
    element,
    /** Whether the chosen source needs approval where approval is required (all but an approved bulletin). */
    needsReview: () => (kind() === "bulletin" ? Boolean(bulletin.value) && !reviewed.has(bulletin.value) : true),
    value() {
      const k = kind();
      const label = (select) => select.selectedOptions[0].text;
      if (k === "bulletin" && bulletin.value) return { body: { bulletin_id: bulletin.value }, label: label(bulletin) };
      if (k === "media" && recording.value) return { body: { media_sha256: recording.value }, label: label(recording) };
      const words = text.value.trim();
      if (k !== "text" || !words) return null;
      return { body: { text: words }, label: words.length > 60 ? words.slice(0, 60) + "…" : words };
    },
  };
}

/** Names of the areas under the chosen ones (each included) that require approval; at most five. */
function approvalAreas(areas, chosen) {
  const below = new Map();
  for (const area of areas) {
    if (!below.has(area.parent_id)) below.set(area.parent_id, []);
    below.get(area.parent_id).push(area);
  }
  const asking = [];
  const visit = (area) => {
    if (area.approval_required) asking.push(area.name);
    (below.get(area.id) || []).forEach(visit);
  };
  areas.filter((a) => chosen.includes(a.id)).forEach(visit);
  return asking.length > 5 ? [...asking.slice(0, 5), "…"] : asking;
}

/** Normal or priority (an emergency has its own page). */
function levelPicker() {
  const element = h("fieldset", { class: "targets choice" }, h("legend", {}, t("bc_level")),
    ["normal", "priority"].map((level) => h("label", {}, h("input", { type: "radio", name: "level", value: level,
      checked: level === "normal" }), ` ${t("bc_" + level)}`)));
  const value = () => element.querySelector("input[name=level]:checked").value;
  return { element, value, label: () => t("bc_" + value()).split(" (")[0] };
}

/** The broadcast on the air: its delivery board and its stop button (hidden once delivery is done). */
function showDelivery(box, broadcast) {
  const board = deliveryBoard(broadcast.id);
  const heading = h("h2", {}, t("bc_on_air", { title: broadcast.title }));
  const stop = h("button", { type: "button", class: "danger big", onclick: async () => {
    const question = t("bc_stop_confirm", { title: broadcast.title });
    if (!(await confirmDialog(question, { danger: true, confirmLabel: t("bc_stop") }))) return;
    await busy(stop, async () => {
      await call("POST", `/broadcasts/${encodeURIComponent(broadcast.id)}/stop`);
      say(t("bc_stopped", { title: broadcast.title }), "ok");
      heading.textContent = t("bc_stopped", { title: broadcast.title });
      stop.hidden = true;
    });
  } }, t("bc_stop"));
  const done = board.element.querySelector("p.ok");
  const watcher = new MutationObserver(() => {
    if (done.hidden || stop.hidden) return;
    stop.hidden = true;
    heading.textContent = t("bc_finished", { title: broadcast.title });
  });
  watcher.observe(done, { attributes: true, attributeFilter: ["hidden"] });
  fill(box, h("section", { class: "panel on-air-now" }, heading, stop), board.element);
  return () => { watcher.disconnect(); board.stop(); };
}
