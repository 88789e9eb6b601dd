// The API, as the console calls it: the session cookie goes by itself, and every change carries the
// session's CSRF token. Errors come back as ApiError: the console's own sentence for the error's
// stable code (errors.js), else the server's message; with the code and the field at fault.
import "./errors.js";
import { t } from "./i18n.js";

const API = "/api/v1";
let csrfToken = null;

export class ApiError extends Error {
  constructor(status, message, answer = null) {
    super(message);
    this.status = status;
    this.code = (answer && answer.code) || null;
    this.field = (answer && answer.field) || null;
  }
}

/** Remember the CSRF token of the session (null after logging out). */
export function setCsrf(token) { csrfToken = token; }

function headers(json) {
  const result = {};
  if (json) result["Content-Type"] = "application/json";
  if (csrfToken) result["X-CSRF-Token"] = csrfToken;
  return result;
}

/** The console's sentence for an error answer: for invalid input, the one for the kind of mistake
 *  in the first field at fault, else the one for the answer's code; the server's text only for a
 *  code the console does not know (never pydantic's words). */
function message(answer, fallback) {
  const detail = answer && answer.detail;
  const first = Array.isArray(detail) && detail.length ? detail[0] : null;
  for (const code of [first && first.code, answer && answer.code, first && "invalid_input"]) {
    if (typeof code === "string" && t(`err_${code}`) !== `err_${code}`) return t(`err_${code}`);
  }
  return typeof detail === "string" ? detail : fallback;
}

// GET answers asked before the page knows who is logged in (see askEarly), each kept for the page's
// first call of the same path. A reload on a slow link then waits for two round trips, not three.
const EARLY_MS = 10000;
const early = new Map();

/** Ask for these GET paths at once; the first call() of each within 10 s takes its answer (or its
 *  refusal, which that call then meets as its own). */
export function askEarly(paths) {
  for (const path of paths) {
    const answer = call("GET", path);
    answer.catch(() => {});  // not a failure here: the page's own call meets it
    early.set(path, { answer, at: Date.now() });
  }
}

function takeEarly(method, path, body, query) {
  if (method !== "GET" || body !== undefined || query) return null;
  const asked = early.get(path);
  early.delete(path);
  return asked && Date.now() - asked.at < EARLY_MS ? asked.answer : null;
}

/** Call the API; returns the JSON answer (null for 204), throws ApiError otherwise. */
export async function call(method, path, body, query) {
  const asked = takeEarly(method, path, body, query);
  if (asked) return asked;
  const search = query ? "?" + new URLSearchParams(
    Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== "")) : "";
  const response = await fetch(API + path + search, {
    method, headers: headers(body !== undefined), credentials: "same-origin",
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, message(answer, response.statusText), answer);
  return answer;
}

/** Upload a form (a file) with progress (0..1) reported as it goes. */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", API + path);
    if (csrfToken) request.setRequestHeader("X-CSRF-Token", csrfToken);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      let answer = null;
      try { answer = JSON.parse(request.responseText); } catch { answer = null; }
      if (request.status >= 200 && request.status < 300) resolve(answer);
      else reject(new ApiError(request.status, message(answer, request.statusText), answer));
    });
    request.addEventListener("error", () => reject(new ApiError(0, "network error")));
    request.send(form);
  });
}

/** Follow server-sent events (onEnd when the server says the stream is over); returns a function
 *  that stops following. */
export function follow(path, onEvent, onEnd) {
  const source = new EventSource(API + path, { withCredentials: true });
  source.addEventListener("message", (event) => {
    let data = null;
    try { data = JSON.parse(event.data); } catch { return; /* a partial event */ }
    onEvent(data);
  });
  source.addEventListener("end", () => { source.close(); if (onEnd) onEnd(); });
  return () => source.close();
}

const JOB_POLL_MS = 500;
const AWAY_MAX_MS = 60000;  // how long a controller that restarts is waited for

/** Wait for a background job (transcoding, speech) to end; returns its result. While the controller
 *  does not answer (it restarts) it keeps asking for a minute, so that a job the restart cut off
 *  ends with the console's sentence for its error code, not with a network error. */
export async function job(jobId, onProgress) {
  let answered = Date.now();
  for (;;) {
    let state = null;
    try {
      state = await call("GET", `/jobs/${encodeURIComponent(jobId)}`);
      answered = Date.now();
    } catch (error) {
      if (!away(error) || Date.now() - answered > AWAY_MAX_MS) throw error;
    }
    if (state && state.state === "done") return state.result;
    if (state && state.state === "failed") {
      const answer = { code: state.error_code || null, detail: state.error || "failed" };
      throw new ApiError(422, message(answer, "failed"), answer);
    }
    if (state && onProgress && typeof state.progress === "number") onProgress(state.progress);
    await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
  }
}

/** Whether an error means the controller is not there for now (no answer, or a proxy's 502-504). */
function away(error) {
  return !(error instanceof ApiError) || [502, 503, 504].includes(error.status);
}
