"""The input-region policy that `python -m dkd_tf.infer` runs by default, in one place.

Every export writes it into manifest.json ("region"), so that each client (the Python
runtime, web/region.js, an Android or Jetson app) runs the same logic; the rule below is the
whole algorithm (dkd_tf/runtime/region.py implements it). Pure Python: the video CLI reads
its defaults from here before it imports anything heavy.

Chosen on real footage and checked on held-out synthetic videos (README "Real people"):
finding the person and cropping around them, margin 2.5 (real footage, PCK@0.2 against
BlazePose: 0.711 vs 0.693 for whole frames; 10 held-out synthetic videos: 0.907 vs 0.848;
0.709 / 0.906 with the integer-window crop of the rule below, which every port computes
bit for bit; margin 2 with the outlier rule also while tracking gave 0.716 / 0.733: the
crop shrank onto part of the person); the outlier rule on the whole-frame pass only;
re-initialising every 30 frames (real: every 10 0.715, never 0.723, the initializer on
every frame 0.672), which bounds how long a lost person stays lost.
"""
from __future__ import annotations

REGION_POLICY = {
    "mode": "person", "margin": 2.5, "shift": 0.1, "zoom": 1.2, "min_score": 0.2,
    "min_joints": 4, "min_side": 0.25, "outlier_factor": 3.0, "reinit_every": 30,
}
REGION_RULE = (
    "Initializer frame with no crop to go by (frame 0, or after a low score): run "
    "pose_initializer on the whole letterboxed frame, decode; take the joints with score >= "
    "min_score (need >= min_joints, else use the whole frame); drop those further than "
    "outlier_factor x the median distance from the joints' median point; crop = square of "
    "side margin x the larger side of their box, clamped to [min_side x the frame's shorter "
    "side, 1.2 x its longer side], centre = the box centre clamped into the frame; then run "
    "frame_encoder and pose_initializer on that crop (the state lives in it). Every frame "
    "after: the wanted crop is the same rule on the last keypoints, without the outlier "
    "step; keep the current crop "
    "unless the wanted centre moved by more than shift x its side or its side changed by "
    "more than the factor zoom; when it moves, re-anchor: frame_encoder on the previous frame "
    "inside the new crop, heatmaps warped from the old crop to the new. Re-initialise every "
    "reinit_every frames (inside the current wanted crop). A crop (cx, cy, side) is an "
    "integer window of the frame: n = max(1, round(side)), x0 = round(cx - (n - 1) / 2), "
    "y0 = round(cy - (n - 1) / 2), round half up (floor(v + 0.5)); its n x n pixels "
    "[x0, x0 + n) x [y0, y0 + n), pad_value where it leaves the frame, are letterboxed into "
    "the input exactly as a whole frame is (the same resize), and its A is that letterbox's "
    "A with tx = (ox + c) - s x0, ty = (oy + c) - s y0. The heatmap warp between two crops "
    "is separable (every A is a scale s and a shift t): new cell j (input pixel stride j) "
    "samples the old maps at q = (s_old ((stride j - t_new) / s_new) + t_old) / stride per "
    "axis, bilinear with weights 1 - a, a (a = q - floor(q)), zero outside the maps.")
