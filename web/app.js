// The page: options from the URL query (or window.dkdStart(options)), the manifest and
// graphs from the assets folder, frames from a picked video, the webcam, or (check mode)
// the server that python -m dkd_tf.web --check runs; skeleton overlay and stats.
//
// Query options (python -m dkd_tf.web prints a URL with all of them, from infer's defaults):
//   assets=URL/ backend=wasm|webgpu precision=fp32 roi=full|track|person reinit_every=N
//   reinit_score=s|none smooth=none|one-euro min_cutoff beta d_cutoff [threads=N]
//   [source=file|camera|check] [report=1: POST each result to /check/*] [max_frames=N]
//   [fps=F: the time base of smoothing when frames carry no time]
// From JS instead: set window.dkdManual = true before this module runs, then call
// dkdStart(dkdParseOptions(new URLSearchParams({...the query options above}))).

import {loadLiteRt} from '@litertjs/core';

import {checkManifest, PoseTracker} from './tracker.js';

const REQUIRED = ['assets', 'backend', 'precision', 'roi', 'reinit_every', 'reinit_score',
                  'smooth', 'min_cutoff', 'beta', 'd_cutoff'];
const $ = (id) => document.getElementById(id);

let reporting = false;

function showError(message) {
  const box = $('error');
  box.textContent = `error: ${message}`;
  box.style.display = 'block';
  $('status').textContent = 'stopped';
  if (reporting) post('/check/error', {message: String(message)});
}

function post(url, body) {
  return fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'},
                     body: JSON.stringify(body)});
}

/** URLSearchParams -> tracker options; throws naming a missing or bad option. */
export function parseOptions(params) {
  const missing = REQUIRED.filter((k) => !params.has(k));
  if (missing.length) {
    throw new Error(`missing page options ${missing.join(', ')} (open the URL that ` +
                    `python -m dkd_tf.web prints, or call dkdStart({...}))`);
  }
  const num = (k) => {
    const v = Number(params.get(k));
    if (!Number.isFinite(v)) throw new Error(`option ${k}=${params.get(k)} is not a number`);
    return v;
  };
  const backend = params.get('backend');
  if (!['wasm', 'webgpu'].includes(backend)) throw new Error(`backend ${backend}: wasm or webgpu`);
  const smooth = params.get('smooth');
  if (!['none', 'one-euro'].includes(smooth)) throw new Error(`smooth ${smooth}: none or one-euro`);
  const rs = params.get('reinit_score');
  let assets = params.get('assets');
  if (!assets.endsWith('/')) assets += '/';
  return {
    assets, backend, precision: params.get('precision'), roi: params.get('roi'),
    reinitEvery: num('reinit_every'),
    reinitScore: (rs === 'none' || rs === '') ? null : num('reinit_score'),
    smooth: smooth === 'one-euro'
      ? {minCutoff: num('min_cutoff'), beta: num('beta'), dCutoff: num('d_cutoff')} : null,
    threads: params.has('threads') ? num('threads') : null,
    source: params.get('source') || 'file',
    report: params.get('report') === '1',
    maxFrames: params.has('max_frames') ? num('max_frames') : null,
    fps: params.has('fps') ? num('fps') : 30.0,
  };
}

async function loadManifest(assets) {
  const url = assets + 'manifest.json';
  let r;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new Error(`${url}: cannot fetch (${e.message})`);
  }
  if (!r.ok) throw new Error(`${url}: no such manifest (HTTP ${r.status})`);
  let m;
  try {
    m = await r.json();
  } catch (e) {
    throw new Error(`${url}: not a readable JSON manifest (${e.message})`);
  }
  checkManifest(m, url);
  return m;
}

// ---- drawing -------------------------------------------------------------------------
function draw(ctx, frame, pose, tracker) {
  const {width: w, height: h} = frame;
  if (ctx.canvas.width !== w || ctx.canvas.height !== h) {
    ctx.canvas.width = w; ctx.canvas.height = h;
    ctx.canvas.style.width = `${Math.max(w, 480)}px`;
  }
  const rgba = frame.channels === 4 ? frame.data : toRgba(frame);
  ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, w * h * 4), w, h), 0, 0);
  const th = Math.max(1, Math.round(Math.min(w, h) / 240));
  const kp = pose.keypoints, sc = pose.scores;
  if (tracker.region.mode !== 'full') {  // the input region, as infer --out draws it
    const [x1, y1, x2, y2] = pose.roi;
    ctx.strokeStyle = '#a0a0a0'; ctx.lineWidth = th;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  }
  ctx.lineWidth = th;
  for (const [a, b] of tracker.skeleton) {
    ctx.strokeStyle = `hsl(${(a * 29) % 360} 90% 60%)`;
    ctx.beginPath(); ctx.moveTo(kp[2 * a], kp[2 * a + 1]); ctx.lineTo(kp[2 * b], kp[2 * b + 1]);
    ctx.stroke();
  }
  for (let j = 0; j < sc.length; j++) {
    ctx.fillStyle = sc[j] >= 0.2 ? '#ffe000' : '#808080';
    ctx.beginPath(); ctx.arc(kp[2 * j], kp[2 * j + 1], th + 1, 0, 2 * Math.PI); ctx.fill();
  }
  ctx.font = `${10 * th}px sans-serif`;
  ctx.fillStyle = pose.initializer ? '#ff3030' : '#ffffff';
  ctx.fillText(`${pose.index}${pose.initializer ? ' INIT' : ''}`, 4 * th, 12 * th);
}

function toRgba(frame) {
  const {data, width: w, height: h} = frame;
  const out = new Uint8ClampedArray(w * h * 4);
  for (let i = 0, j = 0; i < w * h * 3; i += 3, j += 4) {
    out[j] = data[i]; out[j + 1] = data[i + 1]; out[j + 2] = data[i + 2]; out[j + 3] = 255;
  }
  return out;
}

class Stats {
  constructor(backend) { Object.assign(this, {backend, frames: 0, inits: [], ms: 0, last: 0}); }
  add(pose, ms) {
    this.frames += 1; this.ms += ms; this.last = ms;
    if (pose.initializer) this.inits.push(pose.index);
  }
  show(tracker) {
    const g = tracker.graphMs;
    const tail = this.inits.length > 12 ? ', ...' + this.inits.slice(-8).join(', ') : this.inits.join(', ');
    $('stats').textContent =
      `backend ${this.backend} (graphs ran on ${[...new Set(Object.values(tracker.graphs).map((gr) => gr.ranOn))].join(', ')})   frames ${this.frames}   ms per frame ${(this.ms / Math.max(this.frames, 1)).toFixed(1)} ` +
      `(last ${this.last.toFixed(1)})\n` +
      `initializer frames ${this.inits.length}: ${this.inits.length > 12 ? this.inits.slice(0, 4).join(', ') + tail : tail}\n` +
      `ms per call: ` + Object.entries(g).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
  }
}

// ---- sources -------------------------------------------------------------------------
/** Check mode: frames from the server in order, each exactly once; results POSTed back. */
async function runCheckFeed(tracker, ctx, stats) {
  for (let i = 0; ; i++) {
    const r = await fetch(`/check/frame/${i}`);
    if (r.status === 204) break;
    if (!r.ok) throw new Error(`/check/frame/${i}: HTTP ${r.status} ${await r.text()}`);
    const width = Number(r.headers.get('X-Width')), height = Number(r.headers.get('X-Height'));
    const t = Number(r.headers.get('X-Timestamp'));
    const frame = {data: new Uint8Array(await r.arrayBuffer()), width, height, channels: 3};
    await step(tracker, frame, t, ctx, stats);
  }
  await finish(tracker, stats);
}

async function step(tracker, frame, t, ctx, stats) {
  const t0 = performance.now();
  const pose = await tracker.process(frame, t);
  const ms = performance.now() - t0;
  stats.add(pose, ms);
  draw(ctx, frame, pose, tracker);
  stats.show(tracker);
  if (reporting) {
    const r = await post('/check/result', {
      index: pose.index, initializer: pose.initializer, ms,
      keypoints: Array.from(pose.scores, (s, j) => [pose.keypoints[2 * j], pose.keypoints[2 * j + 1], s]),
    });
    if (!r.ok) throw new Error(`/check/result: HTTP ${r.status}`);
  }
  return pose;
}

async function finish(tracker, stats) {
  $('status').textContent = `done: ${stats.frames} frames`;
  if (reporting) {
    await post('/check/done', {frames: stats.frames, ms_per_frame: stats.ms / Math.max(stats.frames, 1),
                               graph_ms: tracker.graphMs, backend: stats.backend,
                               initializer_frames: stats.inits.length,
                               reanchors: tracker.reanchors});
  }
  window.dkdDone = true;
}

/** A <video> (file or camera): the newest frame each time the tracker is free (real
 * time: frames that arrive while a frame is processed are skipped, unlike check mode). */
function runVideo(video, tracker, ctx, stats, maxFrames) {
  const grab = document.createElement('canvas');
  const gctx = grab.getContext('2d', {willReadFrequently: true});
  let stopped = false, inflight = Promise.resolve();
  const stop = async (waitForFrame) => {
    if (stopped) return;
    stopped = true;
    video.pause();
    if (waitForFrame) await inflight; // 'ended' may come while the last frame is processed
    await finish(tracker, stats);
  };
  const processFrame = async () => {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) return;
    if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
    gctx.drawImage(video, 0, 0);
    const img = gctx.getImageData(0, 0, w, h);
    await step(tracker, {data: img.data, width: w, height: h, channels: 4}, video.currentTime,
               ctx, stats);
  };
  const onFrame = () => {
    if (stopped) return;
    inflight = processFrame().then(() => {
      if (maxFrames !== null && stats.frames >= maxFrames) return stop(false);
      if (!stopped) video.requestVideoFrameCallback(onFrame);
    }).catch((e) => { stopped = true; showError(e.message || e); });
  };
  video.addEventListener('ended', () => stop(true).catch((e) => showError(e.message || e)));
  video.requestVideoFrameCallback(onFrame);
}

async function startFile(file, tracker, ctx, stats) {
  const video = document.createElement('video');
  video.muted = true; video.playsInline = true;
  video.src = URL.createObjectURL(file);
  video.onerror = () => showError(`${file.name}: the browser cannot decode this video`);
  tracker.reset();
  runVideo(video, tracker, ctx, stats, null);
  await video.play();
}

async function startCamera(tracker, ctx, stats, maxFrames) {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: true, audio: false});
  } catch (e) {
    throw new Error(`webcam: cannot open (${e.name}: ${e.message})`);
  }
  const video = document.createElement('video');
  video.muted = true; video.playsInline = true; video.srcObject = stream;
  tracker.reset();
  runVideo(video, tracker, ctx, stats, maxFrames);
  await video.play();
}

// ---- start ---------------------------------------------------------------------------
export async function dkdStart(options) {
  reporting = options.report;
  $('status').textContent = 'loading LiteRT.js...';
  const manifest = await loadManifest(options.assets);
  if (options.backend === 'webgpu' && !navigator.gpu) {
    throw new Error('backend webgpu: this browser has no WebGPU (navigator.gpu is missing)');
  }
  await loadLiteRt(new URL('./node_modules/@litertjs/core/wasm/', import.meta.url).href,
                   self.crossOriginIsolated ? {threads: true} : {});
  $('status').textContent = `compiling graphs on ${options.backend}...`;
  const tracker = await PoseTracker.create(manifest, options.assets, {
    precision: options.precision, accelerator: options.backend, roi: options.roi,
    reinitEvery: options.reinitEvery, reinitScore: options.reinitScore,
    smooth: options.smooth, fps: options.fps || 30.0, threads: options.threads});
  const ctx = $('stage').getContext('2d');
  const stats = new Stats(options.backend);
  $('status').textContent = `ready (${options.backend})`;
  window.dkdTracker = tracker;
  if (options.source === 'check') {
    await runCheckFeed(tracker, ctx, stats);
  } else if (options.source === 'camera') {
    await startCamera(tracker, ctx, stats, options.maxFrames);
  }
  $('file').onchange = (e) => {
    if (e.target.files[0]) startFile(e.target.files[0], tracker, ctx, new Stats(options.backend)).catch((err) => showError(err.message || err));
  };
  $('camera').onclick = () => startCamera(tracker, ctx, new Stats(options.backend), null).catch((err) => showError(err.message || err));
  return tracker;
}

window.dkdParseOptions = parseOptions;
window.dkdStart = (opts) => dkdStart(opts).catch((e) => { showError(e.message || e); throw e; });
window.addEventListener('error', (e) => showError(e.message));
window.addEventListener('unhandledrejection', (e) => showError(e.reason?.message || e.reason));

try {
  const params = new URLSearchParams(location.search);
  if (params.toString() !== '' || !window.dkdManual) {
    const options = parseOptions(params);
    reporting = options.report;
    dkdStart(options).catch((e) => showError(e.message || e));
  }
} catch (e) {
  showError(e.message || e);
}
