// The input region (roi) of the tracker: dkd_tf/runtime/ (geometry.py, region.py) geometry
// and ROI functions, one JS function per Python function, same names (camelCase) and same
// order, so a change to the Python logic ports line by line.
//
//   "full":  every frame is letterboxed whole (imageops.letterbox).
//   "track": after frame 0 the input is a square crop around the previous keypoints' box
//            (side = margin x the box's larger side), moved only when the wanted crop's
//            centre is off by more than shift x its side or its side changes by more than
//            the factor zoom (hysteresis; the tracker then re-anchors its state).
//   "person": as "track", but an initializer frame with no crop to go by (the first frame, or
//            one after a low score) first finds the person: one pose_initializer pass on the
//            whole letterboxed frame, then the crop around what it found, leaving out a
//            confident joint further than 3x the joints' median distance from their median
//            point (tracker.js findPerson; runtime/region.py _find_person).
//
// Shapes: keypoints Float64Array [K * 2] (x, y frame pixels), scores [K]; A a 2x3 affine
// [[a, b, tx], [c, d, ty]] mapping frame pixels to input pixels; a crop box is
// [cx, cy, side] in frame pixels, or null for the whole frame.

import {roundHalfUp} from './imageops.js';

export const ROI_MODES = ['full', 'track', 'person'];

// ---- geometry (geometry.py: crop_window, invert_affine, apply_affine) ---------------------

/** A wanted crop (centre, side; frame pixels) -> its integer window [x0, y0, n]:
 * n = max(1, round(side)), x0 = round(cx - (n - 1) / 2), y0 likewise, round half up
 * (geometry.crop_window; imageops.windowCrop takes the window). */
export function cropWindow(center, side) {
  const n = Math.max(1, roundHalfUp(side));
  return [roundHalfUp(center[0] - (n - 1) / 2.0), roundHalfUp(center[1] - (n - 1) / 2.0), n];
}

export function invertAffine(A) {
  const [[a, b, tx], [c, d, ty]] = A;
  const det = a * d - b * c;
  const ia = d / det, ib = -b / det, ic = -c / det, id = a / det;
  return [[ia, ib, -(ia * tx + ib * ty)], [ic, id, -(ic * tx + id * ty)]];
}

/** points: flat [x0, y0, x1, y1, ...] -> Float64Array of the mapped points. */
export function applyAffine(points, A) {
  const out = new Float64Array(points.length);
  for (let i = 0; i < points.length; i += 2) {
    const x = points[i], y = points[i + 1];
    out[i] = A[0][0] * x + A[0][1] * y + A[0][2];
    out[i + 1] = A[1][0] * x + A[1][1] * y + A[1][2];
  }
  return out;
}

/** NumPy's median: the middle value, or the mean of the two middle ones. */
function median(values) {
  const v = Float64Array.from(values).sort();
  const n = v.length, m = n >> 1;
  return n % 2 ? v[m] : (v[m - 1] + v[m]) / 2.0;
}

// ---- the ROI policy (PoseTracker._confident ... _roi_box) ------------------------------

/** Options (runtime.PoseTracker's defaults, dkd_tf/region_policy.py): margin 2.5, shift 0.1, zoom 1.2,
 * minScore 0.2, minJoints 4, minSide 0.25. */
export class Region {
  constructor(mode = 'full', {margin = 2.5, shift = 0.1, zoom = 1.2, minScore = 0.2,
                              minJoints = 4, minSide = 0.25} = {}) {
    if (!ROI_MODES.includes(mode)) throw new Error(`roi ${mode}: choose from ${ROI_MODES.join(', ')}`);
    Object.assign(this, {mode, margin, shift, zoom, minScore, minJoints, minSide});
  }

  /** The confident keypoints as [[x, y], ...], or null when fewer than minJoints. */
  confident(kp, sc) {
    const pts = [];
    for (let j = 0; j < sc.length; j++) {
      const x = kp[2 * j], y = kp[2 * j + 1];
      if (Number.isFinite(x) && Number.isFinite(y) && sc[j] >= this.minScore) pts.push([x, y]);
    }
    return pts.length >= this.minJoints ? pts : null;
  }

  /** The person's size in frame pixels (the One-Euro speed unit). */
  personSize(kp, sc, frameH, frameW) {
    const pts = this.confident(kp, sc);
    if (pts === null) return Math.max(frameH, frameW);
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    return Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys), 1.0);
  }

  /** [cx, cy, side] around the previous keypoints, or null (whole frame). */
  wantedCrop(prevKp, prevSc, frameH, frameW) {
    if (this.mode === 'full' || prevKp === null) return null;
    return this.cropAround(prevKp, prevSc, frameH, frameW, false);
  }

  /** [cx, cy, side] around the confident keypoints, or null (too few); outliers: leave out
   * joints far from the others (the whole-frame pass only, as runtime/region.py). */
  cropAround(kp, sc, frameH, frameW, outliers = true) {
    let pts = this.confident(kp, sc);
    if (pts === null) return null;
    if (outliers) {  // a confident joint far from the others is a false find, not a limb
      const mx = median(pts.map((p) => p[0])), my = median(pts.map((p) => p[1]));
      const d = pts.map((p) => Math.hypot(p[0] - mx, p[1] - my));
      const lim = 3.0 * Math.max(median(d), 1.0);
      const near = pts.filter((p, i) => d[i] <= lim);
      if (near.length >= this.minJoints) pts = near;
    }
    const h = frameH, w = frameW;
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    const lo = [Math.min(...xs), Math.min(...ys)], hi = [Math.max(...xs), Math.max(...ys)];
    let side = Math.max(hi[0] - lo[0], hi[1] - lo[1]) * this.margin;
    side = Math.min(Math.max(side, this.minSide * Math.min(h, w), 16.0), 1.2 * Math.max(h, w));
    // keep the person's centre in view
    const cx = Math.min(Math.max((lo[0] + hi[0]) / 2.0, 0.0), w - 1.0);
    const cy = Math.min(Math.max((lo[1] + hi[1]) / 2.0, 0.0), h - 1.0);
    return [cx, cy, side];
  }

  shouldMove(cur, want) {
    if (cur === null || want === null) return cur !== want;
    const shift = Math.hypot(want[0] - cur[0], want[1] - cur[1]) > this.shift * cur[2];
    const zoom = Math.max(want[2] / cur[2], cur[2] / want[2]) > this.zoom;
    return shift || zoom;
  }

  /** The integer window [x0, y0, n] of a crop box (geometry.crop_window). */
  cropWindow(box) {
    return cropWindow([box[0], box[1]], box[2]);
  }

  /** The input region as a box [x1, y1, x2, y2] in frame pixels. */
  roiBox(A, inputH, inputW) {
    const p = applyAffine([0, 0, inputW - 1, inputH - 1], invertAffine(A));
    return [p[0], p[1], p[2], p[3]];
  }
}
