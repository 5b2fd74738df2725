// Image operations of the host loop, written to give OpenCV's numbers (dkd_tf/runtime/
// uses cv2.resize and cv2.warpAffine): the page must feed the graphs the same input tensors.
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

function roundHalfUp(v) { return Math.floor(v + 0.5); }

/**
 * The manifest's letterbox (runtime.letterbox): s = min(W / w, H / h), resize to
 * (round(w s), round(h s)), paste at ((W - nw) // 2, (H - nh) // 2) on pad_value.
 * -> {image: Uint8Array [H, W, 3] (the frame's first 3 channels), A: [[s,0,ox+c],[0,s,oy+c]]}
 */
export function letterbox(frame, H, W, padValue = 0) {
  const {width: w, height: h, channels: cn} = frame;
  const s = Math.min(W / w, H / h);
  const nw = Math.min(W, Math.max(1, roundHalfUp(w * s)));
  const nh = Math.min(H, Math.max(1, roundHalfUp(h * s)));
  const ox = Math.floor((W - nw) / 2), oy = Math.floor((H - nh) / 2);
  const img = (nw === w && nh === h) ? frame.data : resizeLinear(frame, nw, nh);
  const canvas = new Uint8Array(H * W * 3).fill(padValue);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      const si = (y * nw + x) * cn, di = ((y + oy) * W + (x + ox)) * 3;
      canvas[di] = img[si]; canvas[di + 1] = img[si + 1]; canvas[di + 2] = img[si + 2];
    }
  }
  const c = (s - 1.0) / 2.0;
  return {image: canvas, A: [[s, 0.0, ox + c], [0.0, s, oy + c]]};
}

function invert2x3(A) {
  const [[a, b, tx], [c, d, ty]] = A;
  const det = a * d - b * c;
  const ia = d / det, ib = -b / det, ic = -c / det, id = a / det;
  return [[ia, ib, -(ia * tx + ib * ty)], [ic, id, -(ic * tx + id * ty)]];
}

/**
 * cv2.warpAffine(src, A, (W, H), INTER_LINEAR, BORDER_CONSTANT, border): A maps source
 * pixels to destination pixels; each destination pixel samples the source at A^-1 (x, y)
 * bilinearly, float32 arithmetic as OpenCV 5's warp kernels (uint8 results rounded: within
 * one grey level of cv2 on a few pixels; float heatmaps agree to float precision).
 * src {data, width, height, channels}; outChannels <= channels are kept.
 * -> Uint8Array or Float32Array [H, W, outChannels] (the type of src.data's family).
 */
export function warpAffine(src, A, W, H, border = 0, outChannels = src.channels) {
  const {data, width: w, height: h, channels: cn} = src;
  const isFloat = data instanceof Float32Array;
  const M = invert2x3(A).map((r) => r.map(f32));
  const out = isFloat ? new Float32Array(H * W * outChannels) : new Uint8Array(H * W * outChannels);
  const px = (x, y, c) => (x >= 0 && x < w && y >= 0 && y < h) ? data[(y * w + x) * cn + c] : border;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const sx = f32(f32(f32(M[0][0] * x) + f32(M[0][1] * y)) + M[0][2]);
      const sy = f32(f32(f32(M[1][0] * x) + f32(M[1][1] * y)) + M[1][2]);
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const ax = f32(sx - x0), ay = f32(sy - y0);
      const o = (y * W + x) * outChannels;
      for (let c = 0; c < outChannels; c++) {
        const v = px(x0, y0, c) * (1 - ax) * (1 - ay) + px(x0 + 1, y0, c) * ax * (1 - ay)
          + px(x0, y0 + 1, c) * (1 - ax) * ay + px(x0 + 1, y0 + 1, c) * ax * ay;
        out[o + c] = isFloat ? v : clamp(rint(v), 0, 255);
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
