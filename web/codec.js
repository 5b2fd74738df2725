// Heatmap decoding: dkd_tf/codec.py decode_heatmaps, rule by rule (argmax, quarter, dark).
//
// heatmaps: Float32Array [h, w, K] (NHWC without the batch) -> {keypoints: Float64Array
// [K * 2] (x, y in input pixels), scores: Float32Array [K] (the heatmap maxima)}.

export const DECODE_METHODS = ['dark', 'quarter', 'argmax'];
const DARK_EPS = Math.fround(1e-10); // log floor (codec.DARK_EPS, as float32 like the maps)

function sign(v) { return v > 0 ? 1 : (v < 0 ? -1 : 0); }
function clip(v, lo, hi) { return Math.min(Math.max(v, lo), hi); }

export function decodeHeatmaps(heatmaps, h, w, K, inputH, inputW, method = 'dark') {
  if (!DECODE_METHODS.includes(method)) {
    throw new Error(`unknown decode method ${method}; choose from ${DECODE_METHODS.join(', ')}`);
  }
  const keypoints = new Float64Array(K * 2), scores = new Float32Array(K);
  const at = (k, y, x) => heatmaps[(y * w + x) * K + k];
  for (let k = 0; k < K; k++) {
    // the first maximum in row-major (y, x) order
    let best = -Infinity, ix = 0, iy = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = at(k, y, x);
        if (v > best) { best = v; ix = x; iy = y; }
      }
    }
    scores[k] = best;
    let x = ix, y = iy;
    if (method !== 'argmax') {
      const qx = (ix > 0 && ix < w - 1) ? 0.25 * sign(at(k, iy, ix + 1) - at(k, iy, ix - 1)) : 0;
      const qy = (iy > 0 && iy < h - 1) ? 0.25 * sign(at(k, iy + 1, ix) - at(k, iy - 1, ix)) : 0;
      x = ix + qx; y = iy + qy;
      if (method === 'dark' && w >= 3 && h >= 3) [x, y] = darkStep(at, k, ix, iy, h, w, x, y);
    }
    keypoints[2 * k] = Math.fround(x * (inputW / w));
    keypoints[2 * k + 1] = Math.fround(y * (inputH / h));
  }
  return {keypoints, scores};
}

// One Newton step on the log heatmap around the arg-max (codec._dark_step).
function darkStep(at, k, ix, iy, h, w, fallbackX, fallbackY) {
  const cx = clip(ix, 1, w - 2), cy = clip(iy, 1, h - 2);
  const L = (dx, dy) => Math.log(Math.max(at(k, cy + dy, cx + dx), DARK_EPS));
  const f0 = L(0, 0);
  const gx = 0.5 * (L(1, 0) - L(-1, 0));
  const gy = 0.5 * (L(0, 1) - L(0, -1));
  const dxx = L(1, 0) - 2 * f0 + L(-1, 0);
  const dyy = L(0, 1) - 2 * f0 + L(0, -1);
  const dxy = 0.25 * (L(1, 1) - L(1, -1) - L(-1, 1) + L(-1, -1));
  const det = dxx * dyy - dxy * dxy;
  if (!(dxx < 0 && det > 0)) return [fallbackX, fallbackY];
  const ox = -(dyy * gx - dxy * gy) / det;
  const oy = -(-dxy * gx + dxx * gy) / det;
  const x = clip(cx + ox, ix - (ix > 0 ? 0.5 : 1.0), ix + (ix < w - 1 ? 0.5 : 1.0));
  const y = clip(cy + oy, iy - (iy > 0 ? 0.5 : 1.0), iy + (iy < h - 1 ? 0.5 : 1.0));
  return [x, y];
}
