// The example: generated WAV windows uploaded with @session-uploads/client, then completion and status.
// Query parameters fill the form: api, token, windows, seconds; retries and backoffMs tune the client;
// autostart=1 starts at once. The outcome is left in window.uploadOutcome (the browser test reads it).
import { UploadClient } from "../dist/index.js";

const form = document.getElementById("form");
const progressBar = document.getElementById("progress");
const stateLabel = document.getElementById("state");
const sessionLabel = document.getElementById("session");
const logBox = document.getElementById("log");
const params = new URLSearchParams(location.search);

for (const name of ["api", "token", "windows", "seconds"]) {
  if (params.has(name)) form.elements[name].value = params.get(name);
}

function log(line) {
  logBox.textContent += `${line}\n`;
}

function setState(state) {
  stateLabel.textContent = state;
  document.body.dataset.state = state;
}

/** A mono 16-bit PCM WAV file: `seconds` of a sine tone at `hz`. */
function wav(seconds, hz, sampleRate = 16000) {
  const samples = Math.round(seconds * sampleRate);
  const bytes = new Uint8Array(44 + samples * 2);
  const view = new DataView(bytes.buffer);
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + samples * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // byte rate
  view.setUint16(32, 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  text(36, "data");
  view.setUint32(40, samples * 2, true);
  for (let i = 0; i < samples; i++) {
    view.setInt16(44 + i * 2, Math.round(Math.sin((2 * Math.PI * hz * i) / sampleRate) * 0.3 * 32767), true);
  }
  return bytes;
}

async function run() {
  const count = Number(form.elements.windows.value);
  const seconds = Number(form.elements.seconds.value);
  const client = new UploadClient({
    apiUrl: form.elements.api.value,
    token: form.elements.token.value,
    ...(params.has("retries") ? { retries: Number(params.get("retries")) } : {}),
    ...(params.has("backoffMs") ? { backoff: { baseMs: Number(params.get("backoffMs")) } } : {}),
  });
  const outcome = { sessionId: null, uploaded: [], etags: [], status: null, error: null };
  window.uploadOutcome = undefined;
  try {
    setState("creating session");
    const { sessionId } = await client.createSession("audio_only");
    outcome.sessionId = sessionId;
    sessionLabel.textContent = sessionId;
    log(`session ${sessionId}`);

    const windows = new Map();
    for (let w = 0; w < count; w++) windows.set(w, wav(seconds, 220 + 55 * w));
    setState("uploading");
    const result = await client.uploadWindows(sessionId, windows, {
      concurrency: 3,
      onProgress: ({ sentBytes, totalBytes, step }) => {
        progressBar.value = totalBytes ? sentBytes / totalBytes : 0;
        if (step.phase === "uploaded") log(`window ${step.windowIndex} uploaded (${step.totalBytes} bytes)`);
        if (step.phase === "retrying") log(`window ${step.windowIndex}: ${step.reason}; retrying in ${Math.round(step.retryInMs)} ms`);
      },
    });
    outcome.uploaded = result.uploaded;
    outcome.etags = result.uploaded.map((w) => result.results.get(w).audio.etag);
    if (!result.ok) throw [...result.failed.values()][0];

    setState("completing");
    await client.complete(sessionId, count);
    const status = await client.waitForStatus(sessionId, { intervalMs: 250, timeoutMs: 60_000 });
    outcome.status = status.status;
    log(`session ${status.status}`);
    setState(status.status);
  } catch (error) {
    outcome.error = String(error && error.message ? error.message : error);
    log(`failed: ${outcome.error}`);
    setState("failed");
  }
  window.uploadOutcome = outcome;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
if (params.get("autostart") === "1") run();
