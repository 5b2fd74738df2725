// The host loop of dkd_tf/runtime/ PoseTracker on LiteRT.js (manifest "dkd-tf/1"):
//   initializer frames: f = frame_encoder(x); h = pose_initializer(x)
//   tracked frames:     f_new = frame_encoder(x); h = dynamic_conv(f, h, f_new); f = f_new
//   keypoints = decode(h) in input pixels, mapped back to frame pixels.
// Re-initialisation every `reinitEvery` frames (0 = never) and on the frame after one whose
// mean score fell below `reinitScore` (null = off); One-Euro smoothing of the output only.
// The region logic lives in region.js.
//
// Frames: {data: Uint8ClampedArray | Uint8Array, width, height, channels} in RGB(A) order.

import {loadAndCompile, Tensor} from '@litertjs/core';

import {decodeHeatmaps, DECODE_METHODS} from './codec.js';
import {letterbox, normalize, warpHeatmaps, windowCrop} from './imageops.js';
import {OneEuroFilter} from './one_euro.js';
import {applyAffine, invertAffine, Region} from './region.js';

export const MANIFEST_FORMAT = 'dkd-tf/1';
export const GRAPHS = ['pose_initializer', 'frame_encoder', 'dynamic_conv'];
const ROLES = {
  pose_initializer: [['image'], ['heatmaps']],
  frame_encoder: [['image'], ['features']],
  dynamic_conv: [['features_prev', 'heatmaps_prev', 'features'], ['heatmaps']],
};

/** Checks a parsed manifest as runtime.load_manifest does; throws Error naming the problem. */
export function checkManifest(m, where) {
  if (m === null || typeof m !== 'object' || m.format !== MANIFEST_FORMAT) {
    const got = (m && typeof m === 'object') ? JSON.stringify(m.format ?? null) : typeof m;
    throw new Error(`${where}: manifest format ${got} is not "${MANIFEST_FORMAT}"`);
  }
  const need = (cond, what) => {
    if (!cond) throw new Error(`${where}: not a valid ${MANIFEST_FORMAT} manifest (${what})`);
  };
  need(m.input && m.heatmap && m.decode && m.models, 'missing input, heatmap, decode or models');
  need(m.input.normalization?.mean?.length === 3 && m.input.normalization?.std?.length === 3,
       'normalization mean and std need 3 values');
  need(['RGB', 'BGR'].includes(m.input.color ?? 'RGB'), `input color ${m.input.color}`);
  need((m.input.letterbox?.interpolation ?? 'linear') === 'linear',
       `letterbox interpolation ${m.input.letterbox?.interpolation} (the page does linear only)`);
  need(DECODE_METHODS.includes(m.decode.method), `decode method ${m.decode.method}`);
  need(Array.isArray(m.joints) && m.joints.length > 0, 'no joints');
}

/** One compiled graph, inputs and outputs wired by the manifest's roles and signature names. */
class Graph {
  constructor(name, model, spec) {
    Object.assign(this, {name, model, spec, msTotal: 0, calls: 0});
    this.signature = spec.signature || 'serving_default';
    const [ins, outs] = ROLES[name];
    const byRole = (list, roles, kind) => Object.fromEntries(roles.map((r) => {
      const io = (list || []).find((d) => d.role === r);
      if (!io) throw new Error(`${spec.file}: manifest names no ${kind} with role ${r}`);
      return [r, io];
    }));
    this.inputs = byRole(spec.inputs, ins, 'input');
    this.outputs = byRole(spec.outputs, outs, 'output');
  }

  /** run({role: Float32Array}) -> {role: Float32Array} */
  async run(arrays) {
    const t0 = performance.now();
    const feed = {};
    for (const [role, io] of Object.entries(this.inputs)) {
      feed[io.signature_name || role] = new Tensor(arrays[role], io.shape);
    }
    let results;
    try {
      results = await this.model.run(this.signature, feed);
    } finally {
      for (const t of Object.values(feed)) t.delete();
    }
    const out = {};
    for (const [role, io] of Object.entries(this.outputs)) {
      let t = results[io.signature_name || role];
      if (t === undefined) throw new Error(`${this.spec.file}: no output ${io.signature_name}`);
      this.ranOn = t.accelerator; // where the output lives: the backend that ran the graph
      if (t.accelerator !== 'wasm') t = await t.moveTo('wasm');
      out[role] = new Float32Array(t.toTypedArray());
      t.delete();
    }
    for (const t of Object.values(results)) if (!t.deleted) t.delete();
    this.msTotal += performance.now() - t0;
    this.calls += 1;
    return out;
  }
}

export class PoseTracker {
  /**
   * manifest: parsed manifest.json; assetsUrl: its folder (ends with /).
   * opts: {precision, accelerator ('wasm' | 'webgpu'), roi, reinitEvery, reinitScore,
   * smooth (null or {minCutoff, beta, dCutoff}), fps, region: Region options}.
   */
  static async create(manifest, assetsUrl, opts) {
    const t = new PoseTracker(manifest, opts);
    const specs = manifest.models[t.precision];
    if (!specs) {
      throw new Error(`${assetsUrl}manifest.json: no "${t.precision}" models (has ` +
                      `${Object.keys(manifest.models).join(', ')})`);
    }
    const cpuOptions = opts.threads ? {numThreads: opts.threads} : undefined;
    for (const g of GRAPHS) {
      const url = assetsUrl + specs[g].file;
      let model;
      try {
        model = await loadAndCompile(url, {accelerator: opts.accelerator, cpuOptions});
      } catch (e) {
        throw new Error(`${url}: cannot load on ${opts.accelerator} (${e.message || e})`);
      }
      t.graphs[g] = new Graph(g, model, specs[g]);
    }
    return t;
  }

  constructor(manifest, opts) {
    checkManifest(manifest, 'manifest.json');
    this.manifest = manifest;
    this.precision = opts.precision || 'fp32';
    this.graphs = {};
    const inp = manifest.input, hm = manifest.heatmap;
    this.inputH = inp.height; this.inputW = inp.width;
    this.hmH = hm.height; this.hmW = hm.width; this.K = manifest.joints.length;
    this.stride = hm.stride;
    this.mean = inp.normalization.mean; this.std = inp.normalization.std;
    this.bgrInput = (inp.color || 'RGB') === 'BGR';
    this.padValue = inp.letterbox?.pad_value ?? 0;
    this.decodeMethod = manifest.decode.method;
    this.joints = manifest.joints;
    this.skeleton = manifest.skeleton || [];
    this.region = new Region(opts.roi || 'full', opts.region || {});
    this.reinitEvery = opts.reinitEvery ?? 0;
    if (!(this.reinitEvery >= 0)) throw new Error(`reinit_every must be >= 0 (got ${this.reinitEvery})`);
    this.reinitScore = opts.reinitScore ?? null;
    this.fps = opts.fps || 30.0;
    const sm = opts.smooth;
    this.smoother = sm ? new OneEuroFilter(sm.minCutoff, sm.beta, sm.dCutoff, this.fps) : null;
    this.reset();
  }

  /** Forgets the video: the next frame runs the initializer on the whole frame. */
  reset() {
    this.s = {features: null, heatmaps: null, A: null, cropBox: null, prevFrame: null,
              keypoints: null, scores: null, sinceInit: 0, lowScore: false};
    this.index = 0;
    this.reanchors = 0;
    this.coarsePasses = 0;
    if (this.smoother) this.smoother.reset();
  }

  /** frame -> {x: Float32Array [1, H, W, 3] normalised, A}; box null = the letterbox of the
   * whole frame, else a crop box [cx, cy, side]: its integer window letterboxed the same way
   * (runtime.PoseTracker.preprocess). */
  preprocess(frame, box = null) {
    const {image, A} = box === null
      ? letterbox(frame, this.inputH, this.inputW, this.padValue)
      : windowCrop(frame, this.region.cropWindow(box), this.inputH, this.inputW, this.padValue);
    return {x: normalize(image, this.mean, this.std, this.bgrInput), A};
  }

  /** heatmaps [m, n, K] in crop A -> {keypoints (frame pixels), scores}. */
  decode(heatmaps, A) {
    const {keypoints, scores} = decodeHeatmaps(heatmaps, this.hmH, this.hmW, this.K,
                                               this.inputH, this.inputW, this.decodeMethod);
    return {keypoints: applyAffine(keypoints, invertAffine(A)), scores};
  }

  /** One frame -> {keypoints, rawKeypoints, scores, initializer, index, roi}. */
  async process(frame, timestamp = null) {
    const s = this.s, G = this.graphs;
    const first = s.heatmaps === null;
    const init = first || (this.reinitEvery > 0 && s.sinceInit >= this.reinitEvery) || s.lowScore;
    let cropBox = (first || s.lowScore) ? null
      : this.region.wantedCrop(s.keypoints, s.scores, frame.height, frame.width);
    let A, x;
    if (init) {
      if (this.region.mode === 'person' && cropBox === null) cropBox = await this.findPerson(frame);
      ({x, A} = this.preprocess(frame, cropBox));
      s.features = (await G.frame_encoder.run({image: x})).features;
      s.heatmaps = (await G.pose_initializer.run({image: x})).heatmaps;
      s.sinceInit = 0;
    } else {
      if (this.region.mode !== 'full' && this.region.shouldMove(s.cropBox, cropBox)) {
        await this.reanchor(cropBox);
      }
      ({x, A} = this.preprocess(frame, s.cropBox));
      const fNew = (await G.frame_encoder.run({image: x})).features;
      s.heatmaps = (await G.dynamic_conv.run({features_prev: s.features,
                                              heatmaps_prev: s.heatmaps,
                                              features: fNew})).heatmaps;
      s.features = fNew;
      cropBox = s.cropBox;
    }
    s.A = A; s.cropBox = cropBox;
    s.sinceInit += 1;
    const {keypoints, scores} = this.decode(s.heatmaps, A);
    s.keypoints = keypoints; s.scores = scores;
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    s.lowScore = this.reinitScore !== null && mean < this.reinitScore;
    if (this.region.mode !== 'full') s.prevFrame = frame;
    let out = keypoints;
    if (this.smoother) {
      const t = timestamp !== null ? timestamp : this.index / this.fps;
      const size = this.region.personSize(keypoints, scores, frame.height, frame.width);
      out = this.smoother.filter(keypoints, t, 1.0 / Math.max(size, 1e-6));
    }
    const pose = {keypoints: out, rawKeypoints: keypoints, scores, initializer: init,
                  index: this.index, roi: this.region.roiBox(A, this.inputH, this.inputW)};
    this.index += 1;
    return pose;
  }

  /** roi "person": one pose_initializer pass on the whole frame; the crop around the joints
   * it finds, or null (runtime/region.py _find_person). */
  async findPerson(frame) {
    const {x, A} = this.preprocess(frame, null);
    const h = (await this.graphs.pose_initializer.run({image: x})).heatmaps;
    const {keypoints, scores} = this.decode(h, A);
    this.coarsePasses += 1;
    return this.region.cropAround(keypoints, scores, frame.height, frame.width);
  }

  /** Moves the state into a new crop: encoder on the previous frame there, heatmaps warped
   * from the old crop (runtime.PoseTracker._reanchor). */
  async reanchor(box) {
    const s = this.s;
    const {x, A: Anew} = this.preprocess(s.prevFrame, box);
    s.features = (await this.graphs.frame_encoder.run({image: x})).features;
    s.heatmaps = warpHeatmaps(s.heatmaps, this.hmH, this.hmW, this.K, s.A, Anew, this.stride);
    s.A = Anew; s.cropBox = box;
    this.reanchors += 1;
  }

  /** Mean ms per call of each graph so far. */
  get graphMs() {
    return Object.fromEntries(GRAPHS.map((g) => {
      const gr = this.graphs[g];
      return [g, gr && gr.calls ? gr.msTotal / gr.calls : 0];
    }));
  }
}
