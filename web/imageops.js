// Image operations of the host loop, written to give dkd_tf/runtime/geometry.py's numbers
// bit for bit (it uses cv2.resize; a crop is an integer window letterboxed the same way, and
// the heatmap warp is a separable bilinear in a fixed order): the page must feed the graphs
// the same input tensors and carry the same state.
//
// Images are {data, width, height, channels}: data a Uint8ClampedArray / Uint8Array
// (row-major, interleaved channels; RGBA from a canvas, RGB from the check feed) or a
// Float32Array (heatmaps [m, n, K]).

const RESIZE_COEF_SCALE = 2048; // OpenCV's INTER_RESIZE_COEF_SCALE (11 fractional bits)

function f32(v) { return Math.fround(v); }

// round half to even, as OpenCV's cvRound / saturate_cast on floats
function rint(v) {
  const r = Math.round(v);
  return (Math.abs(v % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

function clamp(v, lo, hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Per destination index: the source index and its two 11-bit weights, as OpenCV's
// resize computes them (fx in float32; a border index takes weight 1 on the edge pixel).
function linearTaps(dsize, ssize) {
  const scale = 1.0 / (dsize / ssize);
  const ofs = new Int32Array(dsize), a0 = new Int32Array(dsize), a1 = new Int32Array(dsize);
  for (let d = 0; d < dsize; d++) {
    let fx = f32((d + 0.5) * scale - 0.5);
    let sx = Math.floor(fx);
    fx = f32(fx - sx);
    ofs[d] = sx;
    a0[d] = rint(f32(f32(1 - fx) * RESIZE_COEF_SCALE));
    a1[d] = rint(f32(fx * RESIZE_COEF_SCALE));
  }
  return {ofs, a0, a1};
}

/**
 * cv2.resize(src, (nw, nh), interpolation=cv2.INTER_LINEAR) for uint8 images, bit-exact
 * with OpenCV 5 on x86 (checked against cv2 on random images; tests/test_web.py checks
 * it through the page): a horizontal pass in 11-bit fixed point, then the vertical pass
 * OpenCV's SIMD kernel does: ((r0 >> 4) * b0 >> 16) + ((r1 >> 4) * b1 >> 16), rounded >> 2.
 * src {data, width, height, channels} -> Uint8Array [nh, nw, channels].
 */
export function resizeLinear(src, nw, nh) {
  const {data, width: w, height: h, channels: cn} = src;
  const X = linearTaps(nw, w), Y = linearTaps(nh, h);
  // x borders: sx < 0 -> (0, weight 1); sx >= w - 1 -> the last pixel times ONE
  const xs = new Int32Array(nw), xa0 = new Int32Array(nw), xa1 = new Int32Array(nw);
  const xs1 = new Int32Array(nw);
  for (let d = 0; d < nw; d++) {
    let sx = X.ofs[d], a0 = X.a0[d], a1 = X.a1[d];
    if (sx < 0) { sx = 0; a0 = RESIZE_COEF_SCALE; a1 = 0; }
    if (sx >= w - 1) { sx = w - 1; a0 = RESIZE_COEF_SCALE; a1 = 0; }
    xs[d] = sx; xs1[d] = Math.min(sx + 1, w - 1); xa0[d] = a0; xa1[d] = a1;
  }
  const rowLen = nw * cn;
  const rows = new Map(); // source row -> horizontally resized Int32Array
  const hrow = (sy) => {
    sy = clamp(sy, 0, h - 1);
    let r = rows.get(sy);
    if (r === undefined) {
      r = new Int32Array(rowLen);
      const base = sy * w * cn;
      for (let d = 0; d < nw; d++) {
        const p0 = base + xs[d] * cn, p1 = base + xs1[d] * cn;
        for (let c = 0; c < cn; c++) r[d * cn + c] = data[p0 + c] * xa0[d] + data[p1 + c] * xa1[d];
      }
      rows.set(sy, r);
    }
    return r;
  };
  const out = new Uint8Array(nh * rowLen);
  for (let dy = 0; dy < nh; dy++) {
    const sy = Y.ofs[dy], b0 = Y.a0[dy], b1 = Y.a1[dy];
    const r0 = hrow(sy), r1 = hrow(sy + 1);
    const o = dy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      // Math.floor((a * b) / 65536) is the arithmetic shift of the 16-bit mulhi
      const t = Math.floor((r0[i] >> 4) * b0 / 65536) + Math.floor((r1[i] >> 4) * b1 / 65536);
      out[o + i] = clamp((t + 2) >> 2, 0, 255);
    }
    if (rows.size > 4) rows.delete(Math.min(...rows.keys()));
  }
  return out;
}

/** floor(v + 0.5): geometry.round_half_up. */
export function roundHalfUp(v) { return Math.floor(v + 0.5); }

/** The letterbox of a w x h image into H x W (geometry.letterbox_geometry) ->
 * {nw, nh, ox, oy, A}. */
export function letterboxGeometry(w, h, H, W) {
  const s = Math.min(W / w, H / h);
  const nw = Math.min(W, Math.max(1, roundHalfUp(w * s)));
  const nh = Math.min(H, Math.max(1, roundHalfUp(h * s)));
  const ox = Math.floor((W - nw) / 2), oy = Math.floor((H - nh) / 2);
  const c = (s - 1.0) / 2.0;
  return {nw, nh, ox, oy, A: [[s, 0.0, ox + c], [0.0, s, oy + c]]};
}

/**
 * The manifest's letterbox (runtime.letterbox): s = min(W / w, H / h), resize to
 * (round(w s), round(h s)), paste at ((W - nw) // 2, (H - nh) // 2) on pad_value.
 * -> {image: Uint8Array [H, W, 3] (the frame's first 3 channels), A: [[s,0,ox+c],[0,s,oy+c]]}
 */
export function letterbox(frame, H, W, padValue = 0) {
  const {width: w, height: h, channels: cn} = frame;
  const {nw, nh, ox, oy, A} = letterboxGeometry(w, h, H, W);
  const img = (nw === w && nh === h) ? frame.data : resizeLinear(frame, nw, nh);
  const canvas = new Uint8Array(H * W * 3).fill(padValue);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      const si = (y * nw + x) * cn, di = ((y + oy) * W + (x + ox)) * 3;
      canvas[di] = img[si]; canvas[di + 1] = img[si + 1]; canvas[di + 2] = img[si + 2];
    }
  }
  return {image: canvas, A};
}

/**
 * The crop of an integer window [x0, y0, n] (region.cropWindow; geometry.window_crop): the
 * n x n frame pixels inside it (padValue where it leaves the frame) letterboxed into the
 * input as a whole frame is; A is the window's letterbox A shifted by (-x0, -y0).
 * -> {image: Uint8Array [H, W, 3], A}
 */
export function windowCrop(frame, window, H, W, padValue = 0) {
  const [x0, y0, n] = window;
  const {data, width: w, height: h, channels: cn} = frame;
  const patch = new Uint8Array(n * n * 3).fill(padValue);
  const xa = Math.max(x0, 0), xb = Math.min(x0 + n, w);
  for (let y = Math.max(y0, 0); y < Math.min(y0 + n, h); y++) {
    for (let x = xa; x < xb; x++) {
      const si = (y * w + x) * cn, di = ((y - y0) * n + (x - x0)) * 3;
      patch[di] = data[si]; patch[di + 1] = data[si + 1]; patch[di + 2] = data[si + 2];
    }
  }
  const {image, A} = letterbox({data: patch, width: n, height: n, channels: 3}, H, W, padValue);
  A[0][2] -= A[0][0] * x0;
  A[1][2] -= A[1][1] * y0;
  return {image, A};
}

// One axis of warpHeatmaps (geometry._heatmap_taps): for new cells j the old cell
// q = (sOld ((stride j - tNew) / sNew) + tOld) / stride -> indices of floor(q), floor(q) + 1
// (-1 where outside the maps) and their weights 1 - a, a.
function heatmapTaps(n, sOld, tOld, sNew, tNew, stride) {
  const i0 = new Int32Array(n), i1 = new Int32Array(n);
  const w0 = new Float64Array(n), w1 = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const q = (sOld * ((stride * j - tNew) / sNew) + tOld) / stride;
    const q0 = Math.floor(q), a = q - q0;
    i0[j] = (q0 >= 0 && q0 < n) ? q0 : -1;
    i1[j] = (q0 + 1 >= 0 && q0 + 1 < n) ? q0 + 1 : -1;
    w0[j] = 1.0 - a; w1[j] = a;
  }
  return {i0, i1, w0, w1};
}

/**
 * geometry.warp_heatmaps: heatmaps Float32Array [m, n, K] computed in crop Aold -> the same
 * maps in crop Anew (both a scale and a shift), zeros where the new crop sees what the old
 * one did not. Separable bilinear in float64, in the same order as the Python
 * (t0 = wx0 h[y0, x0] + wx1 h[y0, x1], t1 on row y1, out = wy0 t0 + wy1 t1), rounded to
 * float32 once: bit for bit the runtime's maps.
 */
export function warpHeatmaps(heatmaps, m, n, K, Aold, Anew, stride) {
  if (Aold[0][1] || Aold[1][0] || Anew[0][1] || Anew[1][0]) {
    throw new Error('warpHeatmaps: the crops must be a scale and a shift');
  }
  const X = heatmapTaps(n, Aold[0][0], Aold[0][2], Anew[0][0], Anew[0][2], stride);
  const Y = heatmapTaps(m, Aold[1][1], Aold[1][2], Anew[1][1], Anew[1][2], stride);
  const out = new Float32Array(m * n * K);
  const at = (y, x, k) => (y < 0 || x < 0) ? 0 : heatmaps[(y * n + x) * K + k];
  for (let y = 0; y < m; y++) {
    const y0 = Y.i0[y], y1 = Y.i1[y], wy0 = Y.w0[y], wy1 = Y.w1[y];
    for (let x = 0; x < n; x++) {
      const x0 = X.i0[x], x1 = X.i1[x], wx0 = X.w0[x], wx1 = X.w1[x];
      const o = (y * n + x) * K;
      for (let k = 0; k < K; k++) {
        const t0 = wx0 * at(y0, x0, k) + wx1 * at(y0, x1, k);
        const t1 = wx0 * at(y1, x0, k) + wx1 * at(y1, x1, k);
        out[o + k] = wy0 * t0 + wy1 * t1;
      }
    }
  }
  return out;
}

/**
 * uint8 [H, W, 3] -> float32 [H * W * 3]: (pixel / 255 - mean) / std per channel, in
 * float32 as runtime.py (x * scale + bias, scale = 1 / (255 std), bias = -mean / std),
 * channels swapped when the manifest wants BGR.
 */
export function normalize(image, mean, std, bgr = false) {
  const scale = std.map((s) => f32(1.0 / f32(255.0 * f32(s))));
  const bias = mean.map((m, i) => f32(-f32(m) / f32(std[i])));
  const out = new Float32Array(image.length);
  for (let i = 0; i < image.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      const src = bgr ? 2 - c : c;
      out[i + c] = f32(f32(image[i + src] * scale[c]) + bias[c]);
    }
  }
  return out;
}
