// facelatent page: upload -> faces -> settings -> job with live progress -> video. No build step.
"use strict";
const $ = (id) => document.getElementById(id);
const EMOTIONS = ["joy", "fear", "anger", "sadness", "disgust", "surprise"];
const STAGES = {queued: "Waiting in the queue", detecting: "Detecting faces", planning: "Planning the expression",
  rendering: "Rendering frames", encoding: "Encoding the video", done: "Done", failed: "Failed"};
let limitBytes = 20 * 1024 * 1024;
let photo = null;        // the upload record from the server
let source = null;       // the EventSource of the running job

function show(id, on = true) { $(id).hidden = !on; }
function setError(id, text) { $(id).textContent = text || ""; show(id, !!text); }
function randomSeed() { return crypto.getRandomValues(new Uint32Array(1))[0]; }

async function readError(response) {
  try { const body = await response.json(); return body.error || response.statusText; }
  catch (e) { return `the server answered ${response.status} ${response.statusText}`; }
}

// --- upload ---------------------------------------------------------------------------------------
async function upload(file) {
  setError("upload-error", "");
  if (!file) return;
  if (file.size > limitBytes) {
    setError("upload-error", `The file is larger than the limit of ${Math.round(limitBytes / 1048576)} MB: choose a smaller photo.`);
    return;
  }
  $("upload-status").textContent = `Uploading ${file.name} and finding faces…`;
  let response;
  try {
    response = await fetch("/api/photos", {method: "POST", body: file,
      headers: {"Content-Type": file.type || "application/octet-stream"}});
  } catch (e) {
    $("upload-status").textContent = "";
    setError("upload-error", "The upload did not reach the server: check the connection and try again.");
    return;
  }
  $("upload-status").textContent = "";
  if (!response.ok) { setError("upload-error", capital(await readError(response)) + "."); return; }
  photo = await response.json();
  showFaces();
}

function capital(text) { return text ? text[0].toUpperCase() + text.slice(1) : text; }

function showFaces() {
  const img = $("photo");
  img.src = photo.preview;
  const boxes = $("boxes"), list = $("face-list");
  boxes.replaceChildren(); list.replaceChildren();
  photo.faces.forEach((face) => {
    const n = face.index + 1, [x0, y0, x1, y1] = face.box;
    const box = document.createElement("div");
    box.className = "face-box" + (face.too_small ? " small" : "");
    box.id = `box-${face.index}`;
    Object.assign(box.style, {left: `${100 * x0 / photo.width}%`, top: `${100 * y0 / photo.height}%`,
      width: `${100 * (x1 - x0) / photo.width}%`, height: `${100 * (y1 - y0) / photo.height}%`});
    const label = document.createElement("span"); label.textContent = n; box.append(label);
    box.setAttribute("aria-hidden", "true");
    boxes.append(box);
    const li = document.createElement("li");
    const input = document.createElement("input");
    input.type = "checkbox"; input.id = `face-${face.index}`; input.value = face.index; input.className = "face-check";
    input.checked = !face.too_small; input.disabled = face.too_small;
    input.addEventListener("change", () => box.classList.toggle("off", !input.checked));
    const text = document.createElement("label"); text.htmlFor = input.id;
    text.textContent = face.too_small ? ` Face ${n}: ${face.reason}` : ` Face ${n}`;
    if (face.too_small) li.className = "small";
    li.append(input, text); list.append(li);
  });
  show("faces-section"); show("choices-section", photo.faces.length > 0);
  if (!photo.faces.length) setError("upload-error", "No face found in this photo: try one where faces are clearly visible.");
  else if (photo.faces.every((f) => f.too_small)) setError("upload-error", "Every face in this photo is too small to animate: try a closer photo.");
  $("faces-title").focus();
}

// --- settings --------------------------------------------------------------------------------------
function buildChoices() {
  const box = $("emotions"), other = $("blend-with");
  EMOTIONS.forEach((name, i) => {
    const input = document.createElement("input");
    input.type = "radio"; input.name = "emotion"; input.value = name; input.id = `emotion-${name}`; input.checked = i === 0;
    const label = document.createElement("label"); label.htmlFor = input.id; label.textContent = ` ${name}`;
    const span = document.createElement("span"); span.append(input, label); box.append(span);
    const option = document.createElement("option"); option.value = name; option.textContent = name; other.append(option);
  });
  other.value = "surprise";
  for (const [id, out] of [["blend", "blend-out"], ["intensity", "intensity-out"], ["duration", "duration-out"]]) {
    $(id).addEventListener("input", () => { $(out).textContent = $(id).value; });
  }
  $("blend-on").addEventListener("change", () => show("blend-controls", $("blend-on").checked));
  $("seed").value = randomSeed();
  $("new-seed").addEventListener("click", () => { $("seed").value = randomSeed(); });
}

function settings() {
  const faces = [...document.querySelectorAll(".face-check")].filter((c) => c.checked).map((c) => Number(c.value));
  const emotion = document.querySelector("input[name=emotion]:checked").value;
  const body = {photo: photo.id, faces, emotion, intensity: $("intensity").value / 100,
    duration: Number($("duration").value), fps: Number($("fps").value), seed: Number($("seed").value)};
  if ($("blend-on").checked && $("blend-with").value !== emotion) {
    body.blend_with = $("blend-with").value; body.blend = $("blend").value / 100;
  }
  return body;
}

function describe(s) {
  const mood = s.blend_with ? `${s.emotion} ${Math.round(100 - 100 * s.blend)}% + ${s.blend_with} ${Math.round(100 * s.blend)}%` : s.emotion;
  return `${mood}, intensity ${Math.round(100 * s.intensity)}%, ${s.duration} s, ${s.fps} fps, seed ${s.seed}, face(s) ${s.faces.map((f) => f + 1).join(", ")}`;
}

// --- jobs ------------------------------------------------------------------------------------------
async function generate(event) {
  if (event) event.preventDefault();
  setError("job-error", "");
  const seed = $("seed").value;
  if (!/^\d+$/.test(seed) || Number(seed) > 4294967295) { setError("job-error", "The seed must be a whole number from 0 to 4294967295."); show("progress-section"); return; }
  const body = settings();
  if (!body.faces.length) { setError("job-error", "Choose at least one face to animate."); show("progress-section"); return; }
  $("generate").disabled = true; $("again").disabled = true;
  show("progress-section"); show("result", false);
  setProgress("queued", 0, "Sending…");
  const response = await fetch("/api/jobs", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
    .catch(() => null);
  if (!response || !response.ok) {
    setError("job-error", capital(response ? await readError(response) : "the server cannot be reached") + ".");
    $("generate").disabled = false; setProgress("failed", 0, "Failed"); return;
  }
  follow(await response.json());
}

function setProgress(stage, value, text) {
  $("progress").value = value;
  $("progress-label").textContent = text || STAGES[stage] || stage;
}

function follow(job) {
  if (source) source.close();
  source = new EventSource(`/api/jobs/${job.id}/events`);
  source.onmessage = (message) => {
    const view = JSON.parse(message.data);
    if (view.status === "queued") {
      setProgress("queued", 2, view.position ? `Waiting in the queue: position ${view.position}` : "Waiting in the queue");
    } else if (view.status === "running") {
      const frac = view.total ? view.done / view.total : 0;
      const value = {detecting: 5, planning: 10, rendering: 10 + 80 * frac, encoding: 95}[view.stage] || 5;
      const detail = view.stage === "rendering" && view.total ? ` ${view.done} of ${view.total}` : "";
      setProgress(view.stage, value, `${STAGES[view.stage] || view.stage}${detail}…`);
    } else {
      source.close(); source = null; finished(view);
    }
  };
  source.onerror = () => { /* EventSource reconnects by itself; the stream ends with done/failed */ };
}

function finished(view) {
  $("generate").disabled = false; $("again").disabled = false;
  if (view.status === "failed") {
    setProgress("failed", 0, "Failed");
    setError("job-error", capital(view.error || "the job failed") + ".");
    return;
  }
  setProgress("done", 100, "Done: the video plays below and loops.");
  play(view);
  remember(view);
}

function play(view) {
  const video = $("video");
  video.src = view.video; video.load();
  video.play().catch(() => {});
  $("download").href = view.download; $("download").setAttribute("download", view.filename);
  $("result-settings").textContent = describe(view.settings);
  show("result");
}

// --- this session's results -------------------------------------------------------------------------
function history() { try { return JSON.parse(sessionStorage.getItem("facelatent-results") || "[]"); } catch (e) { return []; } }

function remember(view) {
  const items = history().filter((item) => item.id !== view.id);
  items.unshift({id: view.id, video: view.video, download: view.download, filename: view.filename, settings: view.settings});
  sessionStorage.setItem("facelatent-results", JSON.stringify(items.slice(0, 30)));
  renderHistory();
}

function renderHistory() {
  const items = history(), list = $("history");
  list.replaceChildren();
  items.forEach((item) => {
    const li = document.createElement("li");
    const button = document.createElement("button"); button.type = "button"; button.textContent = "Play";
    button.setAttribute("aria-label", `Play: ${describe(item.settings)}`);
    button.addEventListener("click", () => { show("progress-section"); setError("job-error", ""); play(item); $("video").focus(); });
    const link = document.createElement("a"); link.href = item.download; link.textContent = "Download"; link.setAttribute("download", item.filename);
    li.append(button, " ", link, ` ${describe(item.settings)}`);
    list.append(li);
  });
  show("history-section", items.length > 0);
}

// --- wiring ----------------------------------------------------------------------------------------
function wire() {
  const drop = $("drop"), file = $("file");
  file.addEventListener("change", () => upload(file.files[0]));
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); file.click(); } });
  for (const name of ["dragenter", "dragover"]) drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); upload(e.dataTransfer.files[0]); });
  $("choices").addEventListener("submit", generate);
  $("again").addEventListener("click", () => { $("seed").value = randomSeed(); generate(); });
  $("faces-title").tabIndex = -1;
  buildChoices(); renderHistory();
  fetch("/api/config").then((r) => r.json()).then((c) => { limitBytes = c.max_bytes; $("limit-mb").textContent = Math.round(c.max_bytes / 1048576); }).catch(() => {});
}
wire();
