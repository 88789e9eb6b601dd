// The live page: log in (session cookie), choose areas, press "Nói" to speak to them.
// The microphone goes to the controller as 48 kHz mono 16-bit PCM over a WebSocket; every
// block sent is noted with the wall time of its first sample in `window.loalangCaptured`
// (tests and measurements compare it with what the loudspeakers played).
const API = "/api/v1";
const $ = (id) => document.getElementById(id);
let csrf = null;
let session = null;
window.loalangCaptured = [];

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(API + path, {
    method, headers, credentials: "same-origin", body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof answer.detail === "string" ? answer.detail : response.statusText);
  return answer;
}

function say(text) { $("status").textContent = text; }

async function begin() {
  try {
    const current = await call("GET", "/auth/session");
    csrf = current.csrf_token;
    await showLive(current.user);
  } catch {
    $("login").hidden = false;
  }
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const opened = await call("POST", "/auth/session",
      { username: form.get("username"), password: form.get("password") });
    csrf = opened.csrf_token;
    $("login").hidden = true;
    await showLive(opened.user);
  } catch (error) {
    say(`Không đăng nhập được: ${error.message}`);
  }
});

async function showLive(user) {
  $("who").textContent = `${user.full_name || user.username} (${user.role})`;
  const areas = await call("GET", "/areas");
  const box = $("areas");
  for (const area of areas) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = area.id;
    input.name = "area";
    label.append(input, ` ${area.name} (${area.id})`);
    box.append(label);
  }
  $("live").hidden = false;
  say("Sẵn sàng");
}

$("talk").addEventListener("click", async () => {
  const areaIds = [...document.querySelectorAll("input[name=area]:checked")].map((input) => input.value);
  if (areaIds.length === 0) { say("Chọn nơi phát"); return; }
  $("talk").disabled = true;
  try {
    session = await speak(areaIds, $("confirm").value);
    $("stop").disabled = false;
  } catch (error) {
    say(`Không phát được: ${error.message}`);
    $("talk").disabled = false;
  }
});

$("stop").addEventListener("click", () => stop());

async function speak(areaIds, password) {
  const microphone = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const broadcast = await call("POST", "/broadcasts", {
    level: "live", live: { kind: "microphone" }, area_ids: areaIds, confirm_password: password || null,
  });
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${API}/broadcasts/${broadcast.id}/microphone`);
  socket.binaryType = "arraybuffer";
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.state === "on_air") say("Đang phát");
    if (message.state === "ended") { say("Đã dừng"); stop(); }
  });
  socket.addEventListener("close", () => stop());
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", () => reject(new Error("không mở được kết nối")), { once: true });
  });
  const context = new AudioContext({ sampleRate: 48000 });
  await context.audioWorklet.addModule("mic-worklet.js");
  const node = new AudioWorkletNode(context, "loalang-microphone");
  const mute = context.createGain();
  mute.gain.value = 0;
  context.createMediaStreamSource(microphone).connect(node).connect(mute).connect(context.destination);
  node.port.onmessage = (event) => send(socket, context, event.data);
  say("Đang nói…");
  return { microphone, socket, context, broadcast };
}

function send(socket, context, block) {
  if (socket.readyState !== WebSocket.OPEN) return;
  // The block's first sample went through the audio graph (context.currentTime - frame/rate) s ago:
  // its capture time, less the sound card's own input buffering, which the page cannot see.
  const wallMs = performance.timeOrigin + performance.now()
    - (context.currentTime - block.frame / context.sampleRate) * 1000;
  if (window.loalangCaptured.length < 30000) {
    window.loalangCaptured.push({ wallMs, pcm: Array.from(new Int16Array(block.pcm)) });
  }
  socket.send(block.pcm);
}

function stop() {
  if (!session) return;
  const { microphone, socket, context } = session;
  session = null;
  microphone.getTracks().forEach((track) => track.stop());
  if (socket.readyState <= WebSocket.OPEN) socket.close();
  context.close();
  $("stop").disabled = true;
  $("talk").disabled = false;
}

begin();
