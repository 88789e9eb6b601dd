// Agent releases and rollouts: the signed releases held (and adding one), the rollouts with how far
// each went and which devices failed and why, the operator's controls (pause, resume, roll back), and a
// new rollout. Admins of the whole tree only (the API checks the same).
import { call, upload } from "../api.js";
import { field, fill, h } from "../dom.js";
import { addStrings, t, when } from "../i18n.js";
import { busy, say, table } from "../ui.js";
import { areaNames, confirmed, redraw } from "./parts.js";

addStrings({
  vi: {
    rel_releases: "Các phiên bản phần mềm", rel_version: "Phiên bản", rel_notes: "Ghi chú", rel_size: "Dung lượng",
    rel_signed_by: "Ký bởi khoá", rel_built: "Đóng gói lúc", rel_added: "Thêm lúc",
    rel_none: "Chưa có phiên bản nào.", rel_add: "Thêm phiên bản (tệp đã ký)", rel_file: "Tệp phiên bản",
    rel_file_hint: "Tệp do scripts/build-release.sh tạo ra, ký bằng khoá phát hành.",
    rel_send: "Kiểm tra và thêm", rel_added_ok: "Đã thêm phiên bản {version}",
    rel_rollouts: "Các đợt cập nhật", rel_no_rollouts: "Chưa có đợt cập nhật nào.",
    rel_rollout_of: "Cập nhật lên {release}", rel_stage: "Giai đoạn {stage}/{stages}",
    rel_state_running: "đang chạy", rel_state_paused: "tạm dừng", rel_state_halted: "đã dừng vì lỗi",
    rel_state_completed: "hoàn tất", rel_state_rolled_back: "đã trả về phiên bản cũ",
    rel_counts: "Chờ: {waiting} · Đã gửi: {offered} · Tốt: {healthy} · Lỗi: {failed}",
    rel_why: "Lý do dừng: {reason}", rel_failed_devices: "Cụm loa lỗi", rel_device: "Cụm loa",
    rel_from: "Phiên bản cũ", rel_detail: "Chi tiết",
    rel_pause: "Tạm dừng", rel_resume: "Tiếp tục", rel_roll_back: "Trả về phiên bản cũ",
    rel_pause_confirm: "Tạm dừng đợt cập nhật lên {release}? Giai đoạn sau không bắt đầu.",
    rel_resume_confirm: "Tiếp tục đợt cập nhật lên {release}?",
    rel_roll_back_confirm: "Trả mọi cụm loa đã nhận {release} về phiên bản chúng chạy trước đó?",
    rel_new_rollout: "Đợt cập nhật mới", rel_release: "Phiên bản", rel_areas: "Khu vực",
    rel_areas_hint: "Mọi cụm loa đã kích hoạt ở các khu vực này (giữ Ctrl để chọn nhiều).",
    rel_devices: "Thêm cụm loa (mã, cách nhau bởi dấu phẩy)", rel_stages: "Các giai đoạn",
    rel_stages_hint: "Số cụm loa đã nhận sau mỗi giai đoạn: một số hoặc phần trăm, ví dụ 1, 5%, 25%, 100%.",
    rel_gate: "Thời gian chứng tỏ chạy tốt (giây)", rel_max_failures: "Số cụm lỗi tối đa mỗi giai đoạn",
    rel_start: "Bắt đầu cập nhật",
    rel_start_confirm: "Cập nhật lên {release}, theo các giai đoạn {stages}? Cụm loa chỉ khởi động lại "
      + "khi không phát gì." },
  en: {
    rel_releases: "Agent releases", rel_version: "Version", rel_notes: "Notes", rel_size: "Size",
    rel_signed_by: "Signed by key", rel_built: "Built", rel_added: "Added",
    rel_none: "No releases yet.", rel_add: "Add a release (a signed file)", rel_file: "Release file",
    rel_file_hint: "A file made by scripts/build-release.sh, signed with a release key.",
    rel_send: "Check and add", rel_added_ok: "Release {version} added",
    rel_rollouts: "Rollouts", rel_no_rollouts: "No rollouts yet.",
    rel_rollout_of: "Rollout of {release}", rel_stage: "Stage {stage} of {stages}",
    rel_state_running: "running", rel_state_paused: "paused", rel_state_halted: "halted by failures",
    rel_state_completed: "completed", rel_state_rolled_back: "rolled back",
    rel_counts: "Waiting: {waiting} · Offered: {offered} · Healthy: {healthy} · Failed: {failed}",
    rel_why: "Why it halted: {reason}", rel_failed_devices: "Failed devices", rel_device: "Device",
    rel_from: "Previous version", rel_detail: "Detail",
    rel_pause: "Pause", rel_resume: "Resume", rel_roll_back: "Roll back",
    rel_pause_confirm: "Pause the rollout of {release}? No further stage starts.",
    rel_resume_confirm: "Resume the rollout of {release}?",
    rel_roll_back_confirm: "Return every device offered {release} to the version it ran before?",
    rel_new_rollout: "New rollout", rel_release: "Release", rel_areas: "Areas",
    rel_areas_hint: "Every enrolled device of these areas (hold Ctrl to choose several).",
    rel_devices: "More devices (ids, separated by commas)", rel_stages: "Stages",
    rel_stages_hint: "How many devices have the release after each stage: a count or a percentage, "
      + "e.g. 1, 5%, 25%, 100%.",
    rel_gate: "Time to prove healthy (seconds)", rel_max_failures: "Most failed devices per stage",
    rel_start: "Start the rollout",
    rel_start_confirm: "Roll out {release} in stages {stages}? A device restarts only when nothing plays." },
});

// The actions each state allows (the API answers 409 rollout_state otherwise).
const ACTIONS = {
  running: ["pause", "roll-back"], paused: ["resume", "roll-back"], halted: ["resume", "roll-back"],
  completed: ["roll-back"], rolled_back: [],
};

/** Render the releases section into body. */
export async function render(body, context) {
  const [releases, rollouts, areas] = await Promise.all([call("GET", "/releases"), call("GET", "/rollouts"),
    call("GET", "/areas")]);
  const again = redraw(render, body, context);
  fill(body,
    h("section", { class: "panel" }, h("h2", {}, t("rel_rollouts")),
      rollouts.length ? rollouts.map((r) => rolloutPanel(r, again)) : h("p", { class: "muted" }, t("rel_no_rollouts"))),
    releases.length ? h("section", { class: "panel" }, rolloutForm(releases, areas, again)) : null,
    h("section", { class: "panel" }, h("h2", {}, t("rel_releases")),
      releases.length ? table([
        [t("rel_version"), (r) => r.version], [t("rel_notes"), (r) => r.notes || "–"],
        [t("rel_size"), (r) => `${(r.size / 1e6).toFixed(1)} MB`], [t("rel_signed_by"), (r) => r.signed_by],
        [t("rel_built"), (r) => when(r.built_at)], [t("rel_added"), (r) => `${when(r.added_at)} (${r.added_by})`],
      ], releases) : h("p", { class: "muted" }, t("rel_none"))),
    h("section", { class: "panel" }, addForm(again)));
}

function rolloutPanel(rollout, again) {
  const failed = rollout.devices.filter((d) => d.state === "failed");
  const words = { release: rollout.release };
  return h("article", { class: "rollout", "aria-label": t("rel_rollout_of", words) },
    h("h3", {}, t("rel_rollout_of", words), " ", h("span", { class: `badge rollout-${rollout.state}` },
      t(`rel_state_${rollout.state}`))),
    h("p", {}, t("rel_stage", { stage: rollout.stage, stages: rollout.stages.length }), " · ",
      t("rel_counts", { waiting: 0, offered: 0, healthy: 0, failed: 0, ...rollout.counts }),
      " · ", when(rollout.created_at), ` (${rollout.created_by})`),
    rollout.reason ? h("p", { class: "error-text" }, t("rel_why", { reason: rollout.reason })) : null,
    failed.length ? table([[t("rel_device"), (d) => h("a", { href: `#/devices/${d.device_id}` }, d.device_id)],
      [t("rel_from"), (d) => d.from_version], [t("rel_detail"), (d) => d.detail]], failed, t("rel_failed_devices"))
      : null,
    h("div", { class: "row-actions" }, ACTIONS[rollout.state]?.map((action) => actionButton(rollout, action, again))));
}

function actionButton(rollout, action, again) {
  const key = action.replace("-", "_");
  return h("button", { type: "button", class: action === "roll-back" ? "danger" : null, onclick: async () => {
    const done = await confirmed(t(`rel_${key}_confirm`, { release: rollout.release }), "POST",
      `/rollouts/${encodeURIComponent(rollout.id)}/${action}`, undefined,
      { danger: action === "roll-back", what: t(`rel_${key}`) });
    if (done) await again();
  } }, t(`rel_${key}`));
}

function rolloutForm(releases, areas, again) {
  const release = h("select", { name: "release", "data-field": "release", required: true },
    releases.map((r) => h("option", { value: r.version }, r.version)));
  const areaName = areaNames(areas);
  const chosenAreas = h("select", { name: "areas", "data-field": "areas", multiple: true, size: 5 },
    areas.map((a) => h("option", { value: a.id }, `${areaName(a.id)} (${a.id})`)));
  const devices = h("input", { name: "devices", "data-field": "devices", autocomplete: "off" });
  const stages = h("input", { name: "stages", "data-field": "stages", value: "1, 5%, 25%, 100%", required: true });
  const gate = h("input", { name: "gate_s", "data-field": "gate_s", type: "number", min: 30, max: 3600,
    value: "300", required: true });
  const maxFailures = h("input", { name: "max_failures", "data-field": "max_failures", type: "number", min: 0,
    value: "0", required: true });
  return h("form", { class: "admin-form", onsubmit: async (event) => {
    event.preventDefault();
    const asked = {
      release: release.value,
      areas: [...chosenAreas.selectedOptions].map((o) => o.value),
      devices: devices.value.split(",").map((d) => d.trim()).filter(Boolean),
      stages: stages.value.split(",").map((s) => s.trim()).filter(Boolean)
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
      gate_s: Number(gate.value), max_failures: Number(maxFailures.value),
    };
    const started = await confirmed(t("rel_start_confirm", { release: asked.release, stages: asked.stages.join(", ") }),
      "POST", "/rollouts", asked, { what: t("rel_start"), form: event.target });
    if (started) await again();
  } },
  h("h2", {}, t("rel_new_rollout")), field(t("rel_release"), release),
  field(t("rel_areas"), chosenAreas, t("rel_areas_hint")), field(t("rel_devices"), devices),
  field(t("rel_stages"), stages, t("rel_stages_hint")), field(t("rel_gate"), gate),
  field(t("rel_max_failures"), maxFailures), h("button", { type: "submit", class: "primary" }, t("rel_start")));
}

function addForm(again) {
  const file = h("input", { type: "file", name: "file", "data-field": "file", accept: ".release", required: true });
  const button = h("button", { type: "submit", class: "primary" }, t("rel_send"));
  const form = h("form", { class: "admin-form", onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData();
    data.append("file", file.files[0]);
    const added = await busy(button, () => upload("/releases", data, () => {}), "error", form);
    if (added) {
      say(t("rel_added_ok", { version: added.version }), "ok");
      await again();
    }
  } }, h("h2", {}, t("rel_add")), field(t("rel_file"), file, t("rel_file_hint")), button);
  return form;
}
