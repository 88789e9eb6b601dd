// The schedule: a week calendar of what plays in an area (quiet hours, overlaps and relays marked in
// words), one day's plays explained, the form that schedules an approved bulletin, and the active
// schedules with their next plays. Editing a schedule replaces it in one step (PUT).
import { call } from "../api.js";
import { areaTree } from "../area-tree.js";
import { field, fill, h } from "../dom.js";
import { addStrings, language, t } from "../i18n.js";
import { busy, confirmDialog, say, table } from "../ui.js";

addStrings({
  vi: { sc_title: "Lịch phát", sc_today: "hôm nay", sc_week: "Tuần {from} – {to}", sc_prev: "Tuần trước", sc_next: "Tuần sau",
    sc_this: "Tuần này", sc_plays: "{n} lượt phát", sc_no_plays: "Không có lượt phát.",
    sc_day_hint: "Chọn một ngày để xem chi tiết.", sc_quiet_hours: "Giờ yên lặng của khu vực: {from} – {to}",
    sc_mark_quiet: "Giờ yên lặng", sc_mark_override: "Được phép trong giờ yên lặng", sc_mark_overlap: "Trùng giờ",
    sc_mark_relay: "Tiếp sóng",
    sc_why_quiet: "Rơi vào giờ yên lặng của {target}: các cụm loa sẽ không phát lượt này.",
    sc_why_override: "Rơi vào giờ yên lặng của {target}, nhưng lịch đã được cho phép phát trong giờ yên lặng.",
    sc_why_overlap: "Trùng giờ với {others} trên cùng cụm loa: lượt có mức cao hơn phát trước, lượt kia phải chờ hoặc bị ngắt.",
    sc_why_relay: "Tiếp sóng đài trong {minutes} phút.", sc_target: "Phát tới: {target}", sc_lv_background: "nền",
    sc_lv_normal: "thường", sc_lv_priority: "ưu tiên", sc_lv_emergency: "khẩn cấp", sc_form: "Lên lịch một bản tin",
    sc_form_edit: "Sửa lịch {id}", sc_edit_note: "Lưu sẽ thay lịch này bằng lịch theo nội dung dưới đây, trong một bước: lịch cũ dừng, lịch mới bắt đầu.",
    sc_bulletin: "Bản tin đã duyệt", sc_pick: "— chọn bản tin —", sc_kind: "Kiểu lặp", sc_kind_once: "Một lần",
    sc_kind_daily: "Hằng ngày", sc_kind_weekly: "Hằng tuần", sc_kind_dates: "Vào các ngày chọn",
    sc_kind_rrule: "Theo quy tắc", sc_start_date: "Ngày bắt đầu", sc_time: "Giờ phát (giờ địa phương)",
    sc_weekdays: "Các ngày trong tuần", sc_dates: "Các ngày phát", sc_add_date: "Thêm ngày",
    sc_remove_date: "Bỏ ngày {date}", sc_date: "Ngày", sc_until: "Đến hết ngày (không bắt buộc)",
    sc_devices: "Hoặc chọn từng cụm loa", sc_override: "Cho phép phát trong giờ yên lặng (được ghi vào nhật ký)",
    sc_create: "Lên lịch…", sc_replace: "Lưu thay đổi…", sc_cancel_edit: "Thôi sửa",
    sc_confirm: "Lên lịch «{title}» ({when}) tới {targets}?",
    sc_mark_awaiting: "chờ người duyệt thứ hai", sc_confirmed_by: "xác nhận: {who}",
    sc_confirm_do: "Xác nhận phát", sc_confirm_second: "Xác nhận cho lịch khẩn cấp «{title}» được phát?",
    sc_confirmed: "Đã xác nhận lịch «{title}».",
    sc_confirm_edit: "Thay lịch {id} bằng lịch mới: «{title}» ({when}) tới {targets}? Lịch cũ sẽ dừng.",
    sc_created: "Đã lên lịch «{title}».", sc_replaced: "Đã thay lịch {id}.",
    sc_refused: "Không lên lịch được: {reason}",
    sc_quiet_tip: "Nếu thật cần phát vào giờ yên lặng, đánh dấu ô «Cho phép phát trong giờ yên lặng».",
sc_n_clusters: "{n} cụm loa",
    sc_need_bulletin: "Chọn một bản tin đã duyệt.", sc_need_time: "Chọn ngày và giờ phát.",
    sc_need_weekdays: "Chọn ít nhất một ngày trong tuần.", sc_need_dates: "Thêm ít nhất một ngày phát.",
    sc_active: "Lịch đang chạy", sc_none: "Chưa có lịch nào.", sc_next_plays: "Sắp phát", sc_edit: "Sửa",
    sc_stop: "Dừng", sc_stop_confirm: "Dừng lịch phát «{title}»? Các lượt sắp tới sẽ bị huỷ trên cụm loa.",
    sc_stopped: "Đã dừng lịch «{title}».", sc_at: "lúc {time}", sc_once: "Một lần, {date} lúc {time}",
    sc_daily: "Hằng ngày lúc {time}, từ {date}", sc_weekly: "Hằng tuần ({days}) lúc {time}, từ {date}",
    sc_on_dates: "Vào {dates} lúc {time}", sc_until_word: "đến {date}", sc_wd_0: "Thứ Hai", sc_wd_1: "Thứ Ba",
    sc_wd_2: "Thứ Tư", sc_wd_3: "Thứ Năm", sc_wd_4: "Thứ Sáu", sc_wd_5: "Thứ Bảy", sc_wd_6: "Chủ Nhật",
    sc_actions: "Thao tác", sc_bulletin_col: "Bản tin" },
  en: { sc_title: "Schedule", sc_today: "today", sc_week: "Week {from} – {to}", sc_prev: "Previous week", sc_next: "Next week",
    sc_this: "This week", sc_plays: "{n} plays", sc_no_plays: "Nothing plays.",
    sc_day_hint: "Choose a day to see it in detail.", sc_quiet_hours: "The area's quiet hours: {from} – {to}",
    sc_mark_quiet: "Quiet hours", sc_mark_override: "Allowed in quiet hours", sc_mark_overlap: "Overlap",
    sc_mark_relay: "Relay", sc_why_quiet: "Falls in the quiet hours of {target}: the clusters will not play it.",
    sc_why_override: "Falls in the quiet hours of {target}, but the schedule is allowed to play in them.",
    sc_why_overlap: "Overlaps {others} on the same clusters: the higher level plays first, the other waits or is cut.",
    sc_why_relay: "Relays a station for {minutes} minutes.", sc_target: "To: {target}",
    sc_lv_background: "background", sc_lv_normal: "normal", sc_lv_priority: "priority", sc_lv_emergency: "emergency",
    sc_form: "Schedule a bulletin", sc_form_edit: "Edit schedule {id}",
    sc_edit_note: "Saving replaces this schedule with one as below, in one step: the old one stops as the new one starts.",
    sc_bulletin: "Approved bulletin", sc_pick: "— choose a bulletin —", sc_kind: "Repeats", sc_kind_once: "Once",
    sc_kind_daily: "Daily", sc_kind_weekly: "Weekly", sc_kind_dates: "On chosen dates", sc_kind_rrule: "By rule",
    sc_start_date: "First day", sc_time: "Time (local)", sc_weekdays: "Days of the week", sc_dates: "Dates",
    sc_add_date: "Add the date", sc_remove_date: "Remove {date}", sc_date: "Date", sc_until: "Until (optional)",
    sc_devices: "Or choose single clusters", sc_override: "Allow playing in quiet hours (recorded in the audit log)",
    sc_create: "Schedule…", sc_replace: "Save the changes…", sc_cancel_edit: "Stop editing",
    sc_confirm: "Schedule “{title}” ({when}) to {targets}?",
    sc_mark_awaiting: "awaiting a second approver", sc_confirmed_by: "confirmed by {who}",
    sc_confirm_do: "Confirm", sc_confirm_second: "Let the emergency schedule “{title}” play?",
    sc_confirmed: "Schedule “{title}” confirmed.",
    sc_confirm_edit: "Replace schedule {id} with a new one: “{title}” ({when}) to {targets}? The old one stops.",
    sc_created: "“{title}” scheduled.", sc_replaced: "Schedule {id} replaced.",
    sc_refused: "Could not schedule: {reason}",
    sc_quiet_tip: "If it really must play in quiet hours, tick “Allow playing in quiet hours”.",
    sc_n_clusters: "{n} clusters", sc_need_bulletin: "Choose an approved bulletin.",
    sc_need_time: "Choose the day and the time.", sc_need_weekdays: "Choose at least one day of the week.",
    sc_need_dates: "Add at least one date.", sc_active: "Active schedules", sc_none: "No schedules yet.",
    sc_next_plays: "Next plays", sc_edit: "Edit", sc_stop: "Stop",
    sc_stop_confirm: "Stop the schedule of “{title}”? Its coming plays are withdrawn from the clusters.",
    sc_stopped: "Schedule of “{title}” stopped.", sc_at: "at {time}", sc_once: "Once, {date} at {time}",
    sc_daily: "Daily at {time}, from {date}", sc_weekly: "Weekly ({days}) at {time}, from {date}",
    sc_on_dates: "On {dates} at {time}", sc_until_word: "until {date}", sc_wd_0: "Monday", sc_wd_1: "Tuesday",
    sc_wd_2: "Wednesday", sc_wd_3: "Thursday", sc_wd_4: "Friday", sc_wd_5: "Saturday", sc_wd_6: "Sunday",
    sc_actions: "Actions", sc_bulletin_col: "Bulletin" },
});

const DEFAULT_ZONE = "Asia/Ho_Chi_Minh";
const DEFAULT_QUIET = ["22:00", "05:00"];
const KINDS = ["once", "daily", "weekly", "dates"];

/** Render the schedule page into main. */
export async function render(main, _params, context) {
  const may = context.session.permissions.includes("schedule");
  const mayApprove = context.session.permissions.includes("approve");
  const [areas, bulletins, devices] = await Promise.all([call("GET", "/areas"), call("GET", "/bulletins"),
    may ? call("GET", "/devices", undefined, { limit: 5000 }) : Promise.resolve([])]);
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  const facts = { areas, byId: new Map(areas.map((a) => [a.id, a])), devices: new Map(devices.map((d) => [d.id, d])),
    titles: new Map(bulletins.map((b) => [b.id, b.title])) };
  const own = context.session.user.area_id;
  const calendar = weekCalendar(facts, facts.byId.has(own) ? own : areas[0] && areas[0].id);
  const list = h("section", { class: "panel" }, h("h2", {}, t("sc_active")));
  const approved = bulletins.filter((b) => b.status === "approved");
  const form = may ? scheduleForm(facts, approved, query.get("bulletin"), reload) : null;
  fill(main, h("h1", {}, t("sc_title")), calendar.element, form && form.element, list);

  async function reload() {
    const schedules = await call("GET", "/schedules");
    const actions = { ...(may ? { edit: form.edit, stop } : {}), ...(mayApprove ? { confirm } : {}) };
    fill(list, h("h2", {}, t("sc_active")), scheduleTable(facts, schedules, may || mayApprove ? actions : null));
    await calendar.load();
  }
  async function confirm(schedule, button) {
    const title = facts.titles.get(schedule.bulletin_id) || schedule.bulletin_id;
    if (!(await confirmDialog(t("sc_confirm_second", { title }), { danger: true, confirmLabel: t("sc_confirm_do") }))) {
      return;
    }
    await busy(button, async () => {
      await call("POST", `/schedules/${encodeURIComponent(schedule.id)}/confirm`);
      say(t("sc_confirmed", { title }), "ok");
      await reload();
    });
  }
  async function stop(schedule, button) {
    const title = facts.titles.get(schedule.bulletin_id) || schedule.bulletin_id;
    if (!(await confirmDialog(t("sc_stop_confirm", { title }), { danger: true, confirmLabel: t("sc_stop") }))) return;
    await busy(button, async () => {
      await call("DELETE", `/schedules/${encodeURIComponent(schedule.id)}`);
      say(t("sc_stopped", { title }), "ok");
      await reload();
    });
  }
  await reload();
  if (form && query.get("bulletin")) setTimeout(() => form.focus(), 0);  // after the router focuses the page
}

// ---- dates and times -------------------------------------------------------------------------

function inherited(byId, areaId, key) {
  for (let area = byId.get(areaId); area; area = byId.get(area.parent_id)) if (area[key]) return area[key];
  return null;
}

function zoneOf(byId, areaId) { return inherited(byId, areaId, "timezone") || DEFAULT_ZONE; }

function todayIn(zone) {
  const parts = { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" };
  return new Intl.DateTimeFormat("en-CA", parts).format(new Date());
}

function addDays(day, n) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + n);
  return date.toISOString().slice(0, 10);
}

function mondayOf(day) { return addDays(day, -((new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7)); }

function locale() { return language() === "en" ? "en-GB" : "vi-VN"; }

function shortDate(day) { return `${day.slice(8, 10)}/${day.slice(5, 7)}`; }

function fullDate(day) { return `${shortDate(day)}/${day.slice(0, 4)}`; }

function weekdayName(day) {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(locale(), { timeZone: "UTC", weekday: "long" });
}

function instantText(ms, zone) {
  return new Date(ms).toLocaleString(locale(), { timeZone: zone, dateStyle: "short", timeStyle: "short" });
}

// ---- the week calendar ----------------------------------------------------------------------------

/** The week of an area: seven days of plays, and the chosen day explained. {element, load()}. */
function weekCalendar(facts, firstArea) {
  const state = { area: firstArea, monday: null, chosen: null, days: [], ticket: 0 };
  const area = h("select", { name: "calendar_area" }, facts.areas.map((a) =>
    h("option", { value: a.id, selected: a.id === firstArea }, `${a.name} (${a.id})`)));
  const title = h("h2", { id: "week-title", "aria-live": "polite" });
  const grid = h("ol", { class: "week", "aria-labelledby": "week-title" });
  const detail = h("section", { class: "panel day-detail", id: "day-detail", "aria-live": "polite" },
    h("p", { class: "muted" }, t("sc_day_hint")));
  const show = () => busy(null, load);
  const move = (n) => { state.monday = addDays(state.monday, n); show(); };
  const element = h("section", { class: "panel calendar" },
    h("div", { class: "filters" }, field(t("area"), area),
      h("button", { type: "button", onclick: () => move(-7) }, `← ${t("sc_prev")}`),
      h("button", { type: "button", onclick: () => { state.monday = null; show(); } }, t("sc_this")),
      h("button", { type: "button", onclick: () => move(7) }, `${t("sc_next")} →`)),
    title, grid, detail);
  area.addEventListener("change", () => { state.area = area.value; state.chosen = null; show(); });

  async function load() {
    if (!state.area) return;
    const ticket = ++state.ticket;  // a later load (a quick click on "next week") wins
    const zone = zoneOf(facts.byId, state.area);
    state.monday = state.monday || mondayOf(todayIn(zone));
    const days = [...Array(7).keys()].map((n) => addDays(state.monday, n));
    const plays = await Promise.all(days.map((day) =>
      call("GET", "/schedule-preview", undefined, { area_id: state.area, date: day })));
    if (ticket !== state.ticket) return;
    state.days = days.map((day, n) => ({ day, plays: plays[n] }));
    title.textContent = t("sc_week", { from: shortDate(days[0]), to: fullDate(days[6]) });
    fill(grid, state.days.map((d) => dayColumn(d, d.day === todayIn(zone), () => choose(d.day))));
    if (state.chosen && days.includes(state.chosen)) choose(state.chosen);
    else fill(detail, h("p", { class: "muted" }, t("sc_day_hint")));
  }

  function choose(day) {
    state.chosen = day;
    for (const button of grid.querySelectorAll("button.day-button")) {
      button.setAttribute("aria-pressed", String(button.dataset.date === day));
    }
    const { plays } = state.days.find((d) => d.day === day);
    fill(detail, dayDetail(facts, state.area, day, plays));
  }
  return { element, load };
}

function dayColumn({ day, plays }, today, onChoose) {
  return h("li", { class: today ? "day today" : "day", "data-date": day },
    h("h3", {}, h("button", { type: "button", class: "day-button", "data-date": day, "aria-pressed": "false",
      "aria-controls": "day-detail", onclick: onChoose },
    h("span", { class: "day-name" }, weekdayName(day)), " ", h("span", {}, shortDate(day),
      today ? ` · ${t("sc_today")}` : ""),
    h("small", { class: "day-count" }, plays.length ? t("sc_plays", { n: plays.length }) : t("sc_no_plays")))),
  plays.length ? h("ul", { class: "plays" }, plays.map(playItem)) : null);
}

function playItem(play) {
  return h("li", { class: `play ${play.level}`, "data-schedule": play.schedule_id },
    h("time", {}, play.start_local), " ", h("strong", {}, play.title), " ", levelWord(play.level), marks(play));
}

function levelWord(level) {
  return h("span", { class: `level ${level}` }, t("sc_lv_" + level));
}

function marks(play) {
  const list = [];
  if (play.quiet) list.push(play.quiet_override ? ["override", t("sc_mark_override")] : ["quiet", t("sc_mark_quiet")]);
  if (play.overlaps.length) list.push(["overlap", t("sc_mark_overlap")]);
  if (play.relay) list.push(["relay", t("sc_mark_relay")]);
  if (!list.length) return null;
  return h("span", { class: "marks" }, list.map(([kind, word]) => h("span", { class: `mark ${kind}` }, word)));
}

function dayDetail(facts, areaId, day, plays) {
  const quiet = [inherited(facts.byId, areaId, "quiet_start") || DEFAULT_QUIET[0],
    inherited(facts.byId, areaId, "quiet_end") || DEFAULT_QUIET[1]];
  const areaName = (facts.byId.get(areaId) || { name: areaId }).name;
  return [h("h2", {}, `${weekdayName(day)}, ${fullDate(day)} · ${areaName}`),
    h("p", {}, t("sc_quiet_hours", { from: quiet[0], to: quiet[1] })),
    plays.length ? h("ul", { class: "day-plays" }, plays.map((p) => playDetail(facts, p, plays)))
      : h("p", {}, t("sc_no_plays"))];
}

function playDetail(facts, play, plays) {
  const target = targetName(facts, play.target);
  const titleOf = (id) => (plays.find((p) => p.schedule_id === id) || {}).title || facts.titles.get(id) || id;
  const reasons = [];
  if (play.quiet) reasons.push(t(play.quiet_override ? "sc_why_override" : "sc_why_quiet", { target }));
  const others = [...new Set(play.overlaps)].map((id) => `«${titleOf(id)}»`).join(", ");
  if (play.overlaps.length) reasons.push(t("sc_why_overlap", { others }));
  if (play.relay) reasons.push(t("sc_why_relay", { minutes: Math.round(play.duration_ms / 60000) }));
  return h("li", { "data-schedule": play.schedule_id },
    h("p", {}, h("time", {}, `${play.start_local}–${play.end_local}`), " ", h("strong", {}, play.title), " ",
      levelWord(play.level), marks(play)),
    h("p", { class: "muted" }, t("sc_target", { target })),
    reasons.map((reason) => h("p", { class: "reason" }, reason)));
}

function targetName(facts, id) {
  const area = facts.byId.get(id);
  if (area) return `${area.name} (${id})`;
  const device = facts.devices.get(id);
  return device ? `${device.name} (${id})` : id;
}

// ---- the active schedules --------------------------------------------------------------------------

function scheduleTable(facts, schedules, actions) {
  if (!schedules.length) return h("p", { class: "muted" }, t("sc_none"));
  const columns = [
    [t("sc_bulletin_col"), (s) => facts.titles.get(s.bulletin_id) || s.bulletin_id],
    [t("when"), (s) => [recurrenceText(s), " ",
      s.quiet_override ? h("span", { class: "mark override" }, t("sc_mark_override")) : null,
      s.awaiting_confirmation ? h("span", { class: "mark quiet" }, t("sc_mark_awaiting")) : null,
      s.confirmed_by ? h("span", { class: "muted" }, " ", t("sc_confirmed_by", { who: s.confirmed_by })) : null]],
    [t("targets"), (s) => s.area_ids.concat(s.device_ids).map((id) => targetName(facts, id)).join(", ")],
    [t("sc_next_plays"), (s) => h("ul", { class: "plain" }, s.next_plays_ms.slice(0, 3).map((ms) =>
      h("li", {}, h("time", {}, instantText(ms, s.timezone)))))],
  ];
  if (actions) {
    columns.push([t("sc_actions"), (s) => h("div", { class: "actions" },
      actions.confirm && s.awaiting_confirmation ? h("button", { type: "button", class: "primary",
        onclick: (event) => actions.confirm(s, event.currentTarget),
        "aria-label": `${t("sc_confirm_do")} ${s.id}` }, t("sc_confirm_do")) : null,
      actions.edit && s.kind !== "rrule" ? h("button", { type: "button", onclick: () => actions.edit(s),
        "aria-label": `${t("sc_edit")} ${s.id}` }, t("sc_edit")) : null,
      actions.stop ? h("button", { type: "button", class: "danger", onclick: (event) => actions.stop(s, event.currentTarget),
        "aria-label": `${t("sc_stop")} ${s.id}` }, t("sc_stop")) : null)]);
  }
  return h("div", { class: "table-scroll" }, table(columns, schedules));
}

/** A schedule's recurrence in words. */
function recurrenceText(s) {
  const [day, clock] = s.start_local.split("T");
  const time = clock.slice(0, 5);
  const date = fullDate(day);
  const until = s.until_local && s.kind !== "once" ? `, ${t("sc_until_word", { date: fullDate(s.until_local) })}` : "";
  if (s.kind === "once") return t("sc_once", { date, time });
  if (s.kind === "daily") return t("sc_daily", { date, time }) + until;
  const days = s.weekdays.map((d) => t("sc_wd_" + d)).join(", ");
  if (s.kind === "weekly") return t("sc_weekly", { days, date, time }) + until;
  if (s.kind === "dates") return t("sc_on_dates", { dates: s.dates.map(fullDate).join(", "), time });
  return `${t("sc_kind_rrule")}: ${s.rule || ""} ${t("sc_at", { time })}${until}`;
}

// ---- the form ------------------------------------------------------------------------------------------

/** The form that schedules an approved bulletin (or replaces a schedule): {element, edit(schedule), focus()}. */
function scheduleForm(facts, approved, preselect, onSaved) {
  const c = formControls(facts, approved, preselect);
  const bulletinChoice = c.bulletin.querySelector("select");
  let editing = null;
  const heading = h("h2", { id: "schedule-form-title", tabindex: "-1" }, t("sc_form"));
  const note = h("p", { class: "muted", hidden: true }, t("sc_edit_note"));
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary big" }, t("sc_create"));
  const cancel = h("button", { type: "button", hidden: true, onclick: () => reset() }, t("sc_cancel_edit"));
  const element = h("form", { class: "panel schedule-form", "aria-labelledby": "schedule-form-title",
    onsubmit: (event) => { event.preventDefault(); save(); } },
  heading, note, c.bulletin, c.kind, h("div", { class: "filters" }, c.startDate, c.time, c.until), c.weekdays, c.dates,
  c.tree.element, c.devices, c.override, problem, h("div", { class: "actions" }, submit, cancel));

  function reset() {
    editing = null;
    bulletinChoice.disabled = false;
    heading.textContent = t("sc_form");
    note.hidden = cancel.hidden = true;
    submit.textContent = t("sc_create");
  }

  async function save() {
    problem.hidden = true;
    const body = c.body();
    if (typeof body === "string") { say(body, "error"); return; }
    const bulletinId = c.bulletinId();
    const title = facts.titles.get(bulletinId) || bulletinId;
    const when = recurrenceText({ ...body, until_local: body.until_local || null, rule: null });
    const targets = c.targetsText();
    const question = editing ? t("sc_confirm_edit", { id: editing.id, title, when, targets })
      : t("sc_confirm", { title, when, targets });
    // An emergency schedule is confirmed at scheduling, with the password again (the gate asks for it).
    const emergency = (approved.find((b) => b.id === bulletinId) || {}).level === "emergency";
    const answer = await confirmDialog(question, { danger: emergency, password: emergency,
      confirmLabel: editing ? t("sc_replace") : t("sc_create") });
    if (!answer) return;
    if (emergency) body.confirm_password = answer;
    await busy(submit, async () => {
      const old = editing;
      try {
        if (old) await call("PUT", `/schedules/${encodeURIComponent(old.id)}`, body);
        else await call("POST", `/bulletins/${encodeURIComponent(bulletinId)}/schedules`, body);
      } catch (error) {
        refused(error.message);
        return;
      }
      say(old ? t("sc_replaced", { id: old.id }) : t("sc_created", { title }), "ok");
      reset();
      c.clear();
      await onSaved();
    });
  }

  function refused(reason) {
    problem.hidden = false;
    fill(problem, t("sc_refused", { reason }), /quiet/.test(reason) ? [" ", t("sc_quiet_tip")] : null);
    say(t("sc_refused", { reason }), "error");
  }

  const focus = () => { element.scrollIntoView({ block: "start" }); heading.focus(); };
  return {
    element,
    focus,
    edit(schedule) {
      editing = schedule;
      c.load(schedule);
      bulletinChoice.disabled = true;  // an edit changes when and where; another bulletin is a new schedule
      heading.textContent = t("sc_form_edit", { id: schedule.id });
      note.hidden = cancel.hidden = false;
      submit.textContent = t("sc_replace");
      problem.hidden = true;
      focus();
    },
  };
}

/** The form's controls, how they read back as the API's body, and how a schedule fills them in. */
function formControls(facts, approved, preselect) {
  const bulletin = h("select", { name: "bulletin", required: true }, h("option", { value: "" }, t("sc_pick")),
    approved.map((b) => h("option", { value: b.id, selected: b.id === preselect }, `${b.title} (${b.area_id})`)));
  const kind = h("select", { name: "kind" }, KINDS.map((k) => h("option", { value: k }, t("sc_kind_" + k))));
  const startDate = h("input", { type: "date", name: "start_date" });
  const time = h("input", { type: "time", name: "start_time", required: true });
  const until = h("input", { type: "date", name: "until" });
  const weekdays = h("fieldset", { class: "targets weekdays" }, h("legend", {}, t("sc_weekdays")),
    [...Array(7).keys()].map((d) => h("label", {},
      h("input", { type: "checkbox", name: "weekday", value: d }), ` ${t("sc_wd_" + d)}`)));
  const dates = dateList();
  const tree = areaTree(facts.areas, [...facts.devices.values()], { name: "target_area" });
  const deviceBoxes = [...facts.devices.values()].map((d) => h("label", {},
    h("input", { type: "checkbox", name: "target_device", value: d.id }), ` ${d.name} (${d.id})`));
  const devices = h("details", { class: "devices-pick" }, h("summary", {}, t("sc_devices")),
    h("fieldset", { class: "targets" }, h("legend", {}, t("sc_devices")), deviceBoxes));
  const quiet = h("input", { type: "checkbox", name: "quiet_override" });
  const fields = { bulletin: field(t("sc_bulletin"), bulletin), kind: field(t("sc_kind"), kind),
    startDate: field(t("sc_start_date"), startDate), time: field(t("sc_time"), time),
    until: field(t("sc_until"), until), weekdays, dates: dates.element, tree, devices,
    override: h("label", { class: "sc-check" }, quiet, ` ${t("sc_override")}`) };
  const show = () => {
    fields.startDate.hidden = kind.value === "dates";
    fields.until.hidden = kind.value === "once" || kind.value === "dates";
    weekdays.hidden = kind.value !== "weekly";
    dates.element.hidden = kind.value !== "dates";
  };
  kind.addEventListener("change", show);
  show();
  const deviceInputs = () => deviceBoxes.map((label) => label.querySelector("input"));
  const chosenDevices = () => deviceInputs().filter((i) => i.checked).map((i) => i.value);
  const chosenDays = () => [...weekdays.querySelectorAll("input:checked")].map((i) => Number(i.value));

  function body() {
    if (!bulletin.value) return t("sc_need_bulletin");
    const days = dates.values();
    const first = kind.value === "dates" ? days[0] : startDate.value;
    if (kind.value === "dates" && !days.length) return t("sc_need_dates");
    if (!first || !time.value) return t("sc_need_time");
    if (kind.value === "weekly" && !chosenDays().length) return t("sc_need_weekdays");
    if (!tree.chosen().length && !chosenDevices().length) return t("choose_targets");
    return { kind: kind.value, start_local: `${first}T${time.value.slice(0, 5)}`,
      weekdays: kind.value === "weekly" ? chosenDays() : [], dates: kind.value === "dates" ? days : [],
      until_local: (kind.value === "daily" || kind.value === "weekly") && until.value ? until.value : null,
      area_ids: tree.chosen(), device_ids: chosenDevices(), quiet_override: quiet.checked };
  }

  function load(s) {
    if (![...bulletin.options].some((o) => o.value === s.bulletin_id)) {
      bulletin.append(h("option", { value: s.bulletin_id }, facts.titles.get(s.bulletin_id) || s.bulletin_id));
    }
    bulletin.value = s.bulletin_id;
    kind.value = s.kind;
    [startDate.value, time.value] = [s.start_local.slice(0, 10), s.start_local.slice(11, 16)];
    until.value = s.until_local || "";
    for (const box of weekdays.querySelectorAll("input")) box.checked = s.weekdays.includes(Number(box.value));
    dates.set(s.dates);
    tree.set(s.area_ids);
    for (const input of deviceInputs()) input.checked = s.device_ids.includes(input.value);
    quiet.checked = s.quiet_override;
    show();
  }

  function clear() {
    for (const control of [bulletin, startDate, time, until]) control.value = "";
    kind.value = "once";
    for (const box of [...weekdays.querySelectorAll("input"), ...deviceInputs(), quiet]) box.checked = false;
    dates.set([]);
    tree.set([]);
    show();
  }

  return { ...fields, body, load, clear, bulletinId: () => bulletin.value,
    targetsText: () => `${tree.names().concat(chosenDevices()).join(", ")} `
      + `(${t("sc_n_clusters", { n: tree.reach() + chosenDevices().length })})` };
}

/** Dates added one by one, each removable: {element, values(), set(list)}. */
function dateList() {
  const chosen = new Set();
  const input = h("input", { type: "date", name: "add_date" });
  const list = h("ul", { class: "date-list", "aria-live": "polite" });
  const draw = () => fill(list, [...chosen].sort().map((day) => h("li", {},
    h("span", {}, `${weekdayName(day)}, ${fullDate(day)}`), " ",
    h("button", { type: "button", "aria-label": t("sc_remove_date", { date: day }),
      onclick: () => { chosen.delete(day); draw(); } }, "✕"))));
  const element = h("fieldset", { class: "targets dates" }, h("legend", {}, t("sc_dates")),
    h("div", { class: "inline" }, field(t("sc_date"), input),
      h("button", { type: "button", onclick: add }, t("sc_add_date"))),
    list);
  function add() {
    if (!input.value) return;
    chosen.add(input.value);
    input.value = "";
    draw();
  }
  return {
    element,
    values: () => [...chosen].sort(),
    set(days) { chosen.clear(); for (const day of days) chosen.add(day); draw(); },
  };
}
