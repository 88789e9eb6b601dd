// Live: talk into the microphone (a level meter shows it is heard, an on-air light when the
// clusters play it), or relay a station's stream, to the areas chosen. Below, the recent live
// broadcasts, each with its recording (what the clusters were sent) and what it answers.
import { call } from "../api.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { talk } from "../microphone.js";
import { busy, say } from "../ui.js";
import { player } from "./media.js";

addStrings({
  vi: { live_talk: "Nói trực tiếp", live_relay: "Tiếp sóng đài", talk: "Nói", stop: "Dừng",
    confirm_password: "Mật khẩu xác nhận", mic_level: "Mức micro",
    ready: "Sẵn sàng", speaking: "Đang nói…", on_air_now: "Đang phát",
    station_url: "Địa chỉ luồng của đài (http/https)",
    relay_start: "Bắt đầu tiếp sóng", relaying: "Đang tiếp sóng", mic_failed: "Không mở được micro: {reason}",
    interrupted: "Gián đoạn: mất kết nối tới broker, các cụm loa chưa nghe được", ended_because: "Đã dừng: {reason}",
    end_stopped: "dừng theo yêu cầu", end_source_ended: "nguồn đã kết thúc",
    end_source_silent: "nguồn im lặng quá lâu", end_source_failed: "nguồn bị lỗi",
    end_source_refused: "nguồn bị từ chối", end_window_ended: "hết khung giờ",
    end_controller_stopped: "máy chủ điều khiển đã dừng", end_error: "lỗi ở máy chủ",
    rec_title: "Ghi âm các buổi phát trực tiếp", rec_none: "Chưa có buổi phát trực tiếp nào được ghi âm.",
    rec_kind_microphone: "nói trực tiếp", rec_kind_relay: "tiếp sóng", rec_answers: "Trả lời / đính chính cho: {title}",
    rec_pending: "đang ghi âm hoặc đang lưu…", rec_missing: "không có bản ghi" },
  en: { live_talk: "Talk live", live_relay: "Relay a station", talk: "Talk", stop: "Stop",
    confirm_password: "Confirm with your password", mic_level: "Microphone level",
    ready: "Ready", speaking: "Speaking…", on_air_now: "On air",
    station_url: "The station's stream address (http/https)",
    relay_start: "Start relaying", relaying: "Relaying", mic_failed: "Could not open the microphone: {reason}",
    interrupted: "Interrupted: the broker is unreachable, the clusters hear nothing for now",
    ended_because: "Ended: {reason}", end_stopped: "stopped", end_source_ended: "the source ended",
    end_source_silent: "the source was silent too long", end_source_failed: "the source failed",
    end_source_refused: "the source was refused", end_window_ended: "its time window closed",
    end_controller_stopped: "the controller stopped", end_error: "a server error",
    rec_title: "Recordings of live broadcasts", rec_none: "No live broadcast has been recorded yet.",
    rec_kind_microphone: "talk", rec_kind_relay: "relay", rec_answers: "Answers or corrects: {title}",
    rec_pending: "recording, or being stored…", rec_missing: "no recording" },
});

/** Render the live page into main; returns the function that stops talking when leaving it. */
export async function render(main) {
  const areas = await call("GET", "/areas");
  const status = h("p", { id: "status", class: "on-air-light", role: "status", "aria-live": "polite" }, t("ready"));
  const meter = h("meter", { id: "level", min: 0, max: 1, value: 0, "aria-label": t("mic_level") });
  const password = h("input", { id: "confirm", type: "password", autocomplete: "current-password" });
  const talkButton = h("button", { id: "talk", type: "button", class: "danger big" }, t("talk"));
  const stopButton = h("button", { id: "stop", type: "button", class: "big", disabled: true }, t("stop"));
  const url = h("input", { name: "url", type: "url", placeholder: "https://", required: true });
  const relayButton = h("button", { type: "submit", class: "primary" }, t("relay_start"));
  let stopTalking = null;
  let broadcastId = null;

  const targets = h("fieldset", { class: "targets" }, h("legend", {}, t("targets")),
    areas.map((a) => h("label", {}, h("input", { type: "checkbox", name: "area", value: a.id }), ` ${a.name} (${a.id})`)));
  const records = h("section", { class: "panel recordings", "aria-live": "polite" });
  fill(main, h("h1", {}, t("nav_live")), targets, field(t("confirm_password"), password),
    h("div", { class: "columns" },
      h("section", { class: "panel" }, h("h2", {}, t("live_talk")), status,
        h("label", { class: "field" }, h("span", { class: "label" }, t("mic_level")), meter),
        h("div", { class: "actions" }, talkButton, stopButton)),
      h("form", { class: "panel", onsubmit: relay }, h("h2", {}, t("live_relay")),
        field(t("station_url"), url), relayButton)), records);
  showRecordings(records);

  function chosen() {
    return [...targets.querySelectorAll("input[name=area]:checked")].map((input) => input.value);
  }

  function light(text, on) {
    status.textContent = text;
    status.classList.toggle("on", on);
  }

  talkButton.addEventListener("click", async () => {
    if (!chosen().length) { say(t("choose_targets"), "error"); return; }
    talkButton.disabled = relayButton.disabled = true;  // until the talk ends (reset)
    if (!(await startTalking())) { reset(); return; }
    light(t("speaking"), false);
    stopButton.disabled = false;
  });
  stopButton.addEventListener("click", () => { if (stopTalking) stopTalking(); });

  /** The broadcast, then the microphone on it; false (said in the status line) when either failed. */
  async function startTalking() {
    const broadcast = await busy(null, () => call("POST", "/broadcasts", { level: "live",
      live: { kind: "microphone" }, area_ids: chosen(), confirm_password: password.value || null }));
    if (!broadcast) return false;
    broadcastId = broadcast.id;
    let toldWhy = false;  // the controller said why it ended: the socket's close says no more
    stopTalking = await busy(null, () => talk(broadcast.id, {
      onLevel: (peak) => { meter.value = peak; },
      onState: (state, message = {}) => {
        if (state === "on_air") light(t("on_air_now"), true);
        if (state === "interrupted") light(t("interrupted"), false);
        if (state === "ended") { toldWhy = true; light(endedBecause(message.reason), false); reset(); }
        if (state === "closed") { if (!toldWhy) light(t("ended"), false); reset(); }
      },
    }), "mic_failed");
    if (!stopTalking) await busy(null, () => call("POST", `/broadcasts/${broadcast.id}/stop`));  // no voice
    return Boolean(stopTalking);
  }

  function endedBecause(reason) {
    const key = `end_${reason}`;
    return t("ended_because", { reason: t(key) === key ? reason : t(key) });
  }

  function reset() {
    setTimeout(() => showRecordings(records), 3000);  // the recording is stored as the session ends
    stopTalking = null;
    meter.value = 0;
    stopButton.disabled = true;
    talkButton.disabled = relayButton.disabled = false;
  }

  async function relay(event) {
    event.preventDefault();
    if (!chosen().length) { say(t("choose_targets"), "error"); return; }
    const broadcast = await busy(relayButton, () => call("POST", "/broadcasts", { level: "live",
      live: { kind: "relay", url: url.value }, area_ids: chosen(), confirm_password: password.value || null }));
    if (!broadcast) return;
    broadcastId = broadcast.id;
    light(t("relaying"), true);
    talkButton.disabled = relayButton.disabled = true;  // one source at a time, until the relay ends
    stopButton.disabled = false;
    stopTalking = stopRelay;
  }

  /** Stop the relay on the air (the stop button stays off while it is asked). */
  async function stopRelay() {
    stopButton.disabled = true;
    const stopped = await busy(null, () => call("POST", `/broadcasts/${broadcastId}/stop`));
    if (!stopped) { stopButton.disabled = false; return; }
    light(t("ended"), false);
    reset();
  }

  return () => { if (stopTalking) stopTalking(); };
}

const RECENT = 50;

/** The recent live broadcasts into box, newest first, each with its recording and what it answers. */
async function showRecordings(box) {
  const recent = await call("GET", "/broadcasts", undefined, { limit: 200 });
  const titles = new Map(recent.map((b) => [b.id, b.title]));
  const live = recent.filter((b) => b.live_kind).slice(0, RECENT);
  fill(box, h("h2", {}, t("rec_title")), live.length
    ? h("ul", { class: "recording-list" }, live.map((b) => recordingItem(b, titles)))
    : h("p", { class: "muted" }, t("rec_none")));
}

function recordingItem(broadcast, titles) {
  const kind = t(`rec_kind_${broadcast.live_kind}`);
  const heard = broadcast.recording_url
    ? player(broadcast.recording_sha256, broadcast.title)
    : h("span", { class: "muted" }, t(broadcast.status === "on_air" ? "rec_pending" : "rec_missing"));
  return h("li", { "data-broadcast": broadcast.id },
    h("strong", {}, broadcast.title), ` · ${kind} · ${when(broadcast.start_ms || broadcast.created_at)}`,
    broadcast.in_reply_to
      ? h("p", { class: "answers" }, t("rec_answers", { title: titles.get(broadcast.in_reply_to) || broadcast.in_reply_to }))
      : "",
    heard);
}
