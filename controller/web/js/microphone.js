// The operator's microphone on the air: 48 kHz mono 16-bit PCM in 20 ms blocks from an AudioWorklet,
// sent over the broadcast's WebSocket (docs/live.md says why PCM). A page asked to keep what it sent
// (`window.loalangKeepCaptured` set before this module loads: tests and measurements, which compare
// it with what the loudspeakers played) notes every block with the wall time of its first sample in
// `window.loalangCaptured`. An office's page keeps nothing: ten minutes of talk would hold some
// 200 MB of arrays.
const captured = window.loalangKeepCaptured === true ? (window.loalangCaptured = []) : null;
const KEPT_BLOCKS = 30000;  // 10 minutes

/** Open the microphone and send it to the live broadcast; onState gets the controller's "on_air",
 *  "interrupted" (the broker takes no audio for now) and "ended" (with the message, whose reason
 *  says why), then "closed"; onLevel gets the block's peak (0..1). Resolves to a function that
 *  stops talking. */
export async function talk(broadcastId, { onState, onLevel }) {
  const microphone = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/broadcasts/${broadcastId}/microphone`);
  socket.binaryType = "arraybuffer";
  let stopped = false;
  let context = null;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    microphone.getTracks().forEach((track) => track.stop());
    if (socket.readyState <= WebSocket.OPEN) socket.close();
    if (context) context.close();
    onState("closed");
  };
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    onState(message.state, message);
    if (message.state === "ended") stop();
  });
  socket.addEventListener("close", stop);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", () => reject(new Error("WebSocket")), { once: true });
  });
  context = new AudioContext({ sampleRate: 48000 });
  await context.audioWorklet.addModule(import.meta.resolve("/console/mic-worklet.js"));  // its hashed URL
  const node = new AudioWorkletNode(context, "loalang-microphone");
  const mute = context.createGain();
  mute.gain.value = 0;
  context.createMediaStreamSource(microphone).connect(node).connect(mute).connect(context.destination);
  node.port.onmessage = (event) => send(socket, context, event.data, onLevel);
  return stop;
}

function send(socket, context, block, onLevel) {
  if (socket.readyState !== WebSocket.OPEN) return;
  // The block's first sample went through the audio graph (context.currentTime - frame/rate) s ago:
  // its capture time, less the sound card's own input buffering, which the page cannot see.
  const wallMs = performance.timeOrigin + performance.now()
    - (context.currentTime - block.frame / context.sampleRate) * 1000;
  const pcm = new Int16Array(block.pcm);
  if (captured && captured.length < KEPT_BLOCKS) captured.push({ wallMs, pcm: Array.from(pcm) });
  let peak = 0;
  for (const sample of pcm) peak = Math.max(peak, Math.abs(sample));
  onLevel(peak / 32768);
  socket.send(block.pcm);
}
