"""A person with volume, drawn over a Figure's 3-D pose: shaded tapered limbs, clothes, skin, hair.

Why: a model trained on flat coloured sticks finds sticks (goal posts, poles) in real footage
and misses people. Here every body part is a tapered capsule (radius r_a at one end, r_b at
the other) shaded as a cylinder under one directional light, so limbs have the soft
light-to-dark profile of real arms and legs; parts are painted far to near (painter's order
from the 3-D pose), so arms pass in front of or behind the torso as the body turns. Clothing
is consistent over the body: one shirt (its sleeves end at the elbow, mid upper arm or not
at all, showing skin below), trousers or shorts (skin below the hem), shoes; skin on face,
neck, hands; hair on the back and top of the head, seen from any side. Clothes carry
patterns in the part's own coordinates (stripes move with the limb).

All sizes are in body units (torso length = 1) times the figure's pixel scale.
Shapes: img float32 [H, W, 3] RGB 0..255, cover float32 [H, W] coverage 0..1 (the person's
silhouette, soft-edged), points [N, 2] image pixels (x, y).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .figure import Figure

# Palettes (RGB). Skin tones span the Fitzpatrick range; clothes lean to the dark and
# neutral colours most people wear, with some bright sports kit.
SKIN = np.array([[255, 224, 196], [241, 194, 150], [224, 172, 125], [198, 140, 95],
                 [160, 105, 65], [120, 78, 48], [85, 55, 35]], np.float32)
HAIR = np.array([[20, 16, 14], [45, 30, 20], [90, 60, 35], [160, 120, 70], [200, 170, 110],
                 [130, 130, 130], [110, 45, 25]], np.float32)
CLOTH = np.array([[25, 25, 28], [235, 235, 235], [60, 70, 110], [120, 120, 125],
                  [45, 75, 130], [150, 130, 100], [190, 40, 40], [230, 200, 40],
                  [40, 120, 60], [90, 40, 110], [230, 120, 40], [20, 40, 80],
                  [170, 170, 180], [110, 80, 60]], np.float32)
DENIM = np.array([[50, 70, 110], [35, 45, 70], [80, 100, 140]], np.float32)


def paint_capsule(img: np.ndarray, cover: np.ndarray, a, b, ra: float, rb: float, color,
                  light: np.ndarray, pattern: Optional[Tuple[int, float, float]] = None,
                  round_a: bool = True, round_b: bool = True) -> None:
    """Paints one tapered capsule from a (radius ra) to b (radius rb), in place.

    Shading: the part is a cylinder along a->b; the surface normal at signed offset s
    (-1..1 across the axis) is (s * perp, sqrt(1 - s^2)); brightness = ambient + diffuse *
    max(0, n . light). Ends are round (a disc of the end's radius) unless told flat.
    pattern: (kind, period in px, phase): 1 = stripes across the axis, 2 = along it,
    3 = checks; None = plain. Edges are anti-aliased by the distance field.
    """
    H, W = cover.shape
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    r = max(ra, rb)
    x0 = int(max(0, np.floor(min(a[0], b[0]) - r - 1)))
    x1 = int(min(W, np.ceil(max(a[0], b[0]) + r + 2)))
    y0 = int(max(0, np.floor(min(a[1], b[1]) - r - 1)))
    y1 = int(min(H, np.ceil(max(a[1], b[1]) + r + 2)))
    if x0 >= x1 or y0 >= y1 or r < 0.3:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = b - a
    L2 = float(d @ d)
    L = np.sqrt(L2)
    if L < 1e-3:
        d, L2, L = np.array([0.0, 1e-3], np.float32), 1e-6, 1e-3
    px, py = xx - a[0], yy - a[1]
    u_raw = (px * d[0] + py * d[1]) / L2
    u = np.clip(u_raw, 0.0, 1.0)
    rad = ra + (rb - ra) * u
    dist = np.hypot(px - u * d[0], py - u * d[1])
    cov = np.clip(rad - dist + 0.5, 0.0, 1.0)
    # flat ends: cut the disc beyond the end point (soft over one pixel along the axis)
    if not round_a:
        cov *= np.clip(u_raw * L + 0.5, 0.0, 1.0)
    if not round_b:
        cov *= np.clip((1.0 - u_raw) * L + 0.5, 0.0, 1.0)
    if not cov.any():
        return
    perp = np.array([-d[1], d[0]], np.float32) / L
    s = np.clip((px * perp[0] + py * perp[1]) / np.maximum(rad, 0.5), -1.0, 1.0)
    nz = np.sqrt(1.0 - s * s)
    lam = s * float(perp @ light[:2]) + nz * float(light[2])
    shade = 0.38 + 0.75 * np.maximum(lam, 0.0)
    if pattern is not None:
        kind, period, phase = pattern
        along = u_raw * L
        if kind == 1:
            t = np.sin(along * (2 * np.pi / period) + phase)
        elif kind == 2:
            t = np.sin(s * rad * (2 * np.pi / period) + phase)
        else:
            t = np.sin(along * (2 * np.pi / period) + phase) * np.sin(
                s * rad * (2 * np.pi / period) + phase)
        shade = shade * (1.0 + 0.22 * np.sign(t))
    col = np.asarray(color, np.float32)[None, None, :] * shade[..., None]
    c3 = cov[..., None]
    region = img[y0:y1, x0:x1]
    region *= 1.0 - c3
    region += c3 * col
    np.maximum(cover[y0:y1, x0:x1], cov, out=cover[y0:y1, x0:x1])


class HumanBody:
    """One person's look (build, skin, hair, outfit) and the painter for a Figure's pose."""

    def __init__(self, rng: np.random.Generator, figure: Figure):
        self.figure = figure
        j = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
        pick = lambda pal: pal[rng.integers(len(pal))] * rng.uniform(0.85, 1.1, 3)  # noqa: E731
        self.build = j(0.85, 1.3)             # slim .. heavy: scales limb and torso radii
        self.skin = np.clip(pick(SKIN), 0, 255)
        self.hair = np.clip(pick(HAIR), 0, 255)
        self.hair_style = int(rng.choice(4, p=[0.5, 0.25, 0.1, 0.15]))  # short, long, bald, cap
        self.cap = np.clip(pick(CLOTH), 0, 255)
        self.shirt = np.clip(pick(CLOTH), 0, 255)
        self.sleeve = int(rng.choice(4, p=[0.35, 0.4, 0.15, 0.1]))  # long, short, none, 3/4
        self.lower = np.clip(pick(DENIM) if rng.random() < 0.35 else pick(CLOTH), 0, 255)
        self.shorts = bool(rng.random() < 0.3)
        self.shoes = np.clip(pick(CLOTH[[0, 1, 3, 11, 13]]), 0, 255)
        self.shirt_pattern = self._pattern(rng, 0.35)
        self.lower_pattern = self._pattern(rng, 0.1)
        self.torso_depth = j(0.17, 0.24)     # half-depth: how wide the torso looks in profile
        # a coat or long jacket (dark, long-sleeved) hides the hips and the tops of the thighs
        self.coat = bool(rng.random() < 0.25)
        if self.coat:
            self.shirt = np.clip(pick(CLOTH[[0, 2, 3, 11, 13]]), 0, 255)
            self.sleeve = 0

    @staticmethod
    def _pattern(rng, p) -> Optional[Tuple[int, float, float]]:
        if rng.random() >= p:
            return None
        return (int(rng.integers(1, 4)), float(rng.uniform(0.06, 0.2)), float(rng.uniform(0, 6.3)))

    def _scaled(self, pattern, scale):
        if pattern is None:
            return None
        return (pattern[0], max(2.0, pattern[1] * scale), pattern[2])

    def draw(self, img: np.ndarray, cover: np.ndarray, t: float, origin, scale: float,
             light: np.ndarray) -> np.ndarray:
        """Paints the person at frame t; returns the 13 Penn joints [13, 2] it was drawn at."""
        fig = self.figure
        j3 = fig.joints3d(t)
        up = np.array([0.0, 0.0, -1.0])
        fwd = np.array([0.0, 1.0, 0.0])
        neck3 = (j3[1] + j3[2]) / 2 + 0.08 * up
        pelvis3 = (j3[7] + j3[8]) / 2
        extra = [neck3, pelvis3]
        for wr, el in ((5, 3), (6, 4)):
            dv = j3[wr] - j3[el]
            extra.append(j3[wr] + 0.17 * dv / (np.linalg.norm(dv) + 1e-6))  # hand tip
        for an in (11, 12):
            extra.append(j3[an] + 0.24 * fwd + 0.06 * (-up))                 # toe
        P3 = np.concatenate([j3, np.array(extra)])
        pts, depth = fig.project_points(P3, origin, scale)
        NECK, PELVIS, HAND_L, HAND_R, TOE_L, TOE_R = 13, 14, 15, 16, 17, 18
        k = self.build * scale
        th = fig.thick
        r_up, r_fore = 0.5 * th["upper_arm"] * k, 0.45 * th["forearm"] * k
        r_thigh, r_shin = 0.6 * th["thigh"] * k, 0.52 * th["shin"] * k
        r_head = th["head"] * scale * 1.05
        sh_pat, lo_pat = self._scaled(self.shirt_pattern, scale), self._scaled(self.lower_pattern, scale)

        parts = []  # (depth, painter)

        def add(dep, fn, *args, **kw):
            parts.append((float(dep), len(parts), fn, args, kw))

        cap = paint_capsule
        for sh, el, wr, hand in ((1, 3, 5, HAND_L), (2, 4, 6, HAND_R)):
            dep = min(depth[sh], depth[el])
            if self.sleeve == 2:                      # sleeveless: skin from the shoulder
                add(dep, cap, img, cover, pts[sh], pts[el], r_up, r_fore * 1.05, self.skin, light)
            elif self.sleeve == 1:                    # short sleeves end mid upper arm
                mid = pts[sh] + 0.55 * (pts[el] - pts[sh])
                add(dep, cap, img, cover, pts[el], mid, r_fore * 1.05, r_up * 0.95, self.skin,
                    light, round_b=False)
                add(dep + 1e-4, cap, img, cover, pts[sh], mid, r_up * 1.1, r_up * 1.05,
                    self.shirt, light, sh_pat, round_b=False)
            else:
                add(dep, cap, img, cover, pts[sh], pts[el], r_up * 1.1, r_fore * 1.15,
                    self.shirt, light, sh_pat)
            dep = min(depth[el], depth[wr])
            if self.sleeve == 0:                      # long sleeves to the wrist
                add(dep, cap, img, cover, pts[el], pts[wr], r_fore * 1.15, r_fore * 0.95,
                    self.shirt, light, sh_pat)
            elif self.sleeve == 3:                    # three-quarter: cuff halfway down
                mid = pts[el] + 0.5 * (pts[wr] - pts[el])
                add(dep, cap, img, cover, mid, pts[wr], r_fore, r_fore * 0.8, self.skin, light,
                    round_a=False)
                add(dep + 1e-4, cap, img, cover, pts[el], mid, r_fore * 1.15, r_fore * 1.1,
                    self.shirt, light, sh_pat, round_b=False)
            else:
                add(dep, cap, img, cover, pts[el], pts[wr], r_fore, r_fore * 0.8, self.skin, light)
            add(depth[wr] + 1e-4, cap, img, cover, pts[wr], pts[hand], r_fore * 0.75,
                r_fore * 0.65, self.skin, light)
        for hip, kn, an, toe in ((7, 9, 11, TOE_L), (8, 10, 12, TOE_R)):
            dep = min(depth[hip], depth[kn])
            if self.shorts:
                mid = pts[hip] + 0.6 * (pts[kn] - pts[hip])
                add(dep, cap, img, cover, mid, pts[kn], r_thigh * 0.85, r_shin * 1.05, self.skin,
                    light, round_a=False)
                add(dep + 1e-4, cap, img, cover, pts[hip], mid, r_thigh * 1.1, r_thigh * 1.05,
                    self.lower, light, lo_pat, round_b=False)
            else:
                add(dep, cap, img, cover, pts[hip], pts[kn], r_thigh * 1.05, r_shin * 1.1,
                    self.lower, light, lo_pat)
            dep = min(depth[kn], depth[an])
            col = self.skin if self.shorts else self.lower
            add(dep, cap, img, cover, pts[kn], pts[an], r_shin * (1.0 if self.shorts else 1.1),
                r_shin * 0.75, col, light, None if self.shorts else lo_pat)
            add(min(depth[an], depth[toe]) + 2e-4, cap, img, cover, pts[an], pts[toe],
                r_shin * 0.8, r_shin * 0.7, self.shoes, light)
        # torso: a flat-ended tapered cylinder from the shoulder line to the hips, as wide as
        # the shoulders (front) or as the torso is deep (profile)
        w_sh = max(0.5 * np.linalg.norm(pts[1] - pts[2]) + 0.6 * r_up, self.torso_depth * k)
        w_hip = max(0.5 * np.linalg.norm(pts[7] - pts[8]) + 0.7 * r_thigh, 0.9 * self.torso_depth * k)
        top = (pts[1] + pts[2]) / 2 - 0.04 * (pts[PELVIS] - pts[NECK])
        dep_t = float(np.mean(depth[[1, 2, 7, 8]])) - 1e-3
        belt = pts[NECK] + 0.84 * (pts[PELVIS] - pts[NECK])
        add(dep_t, cap, img, cover, top, belt, w_sh, 0.5 * (w_sh + w_hip), self.shirt, light,
            sh_pat, round_a=False, round_b=False)
        add(dep_t, cap, img, cover, belt, pts[PELVIS], 0.5 * (w_sh + w_hip) * 1.02, w_hip,
            self.lower, light, lo_pat, round_a=False)
        if self.coat:  # the coat's skirt, over the hips and the tops of the thighs
            knees = 0.5 * (pts[9] + pts[10])
            hem = pts[PELVIS] + 0.45 * (knees - pts[PELVIS])
            add(dep_t + 1e-4, cap, img, cover, pts[PELVIS], hem, w_hip * 1.08, w_hip * 1.2,
                self.shirt, light, sh_pat, round_a=False)
        # shoulders: round caps where the sleeves start
        for sh in (1, 2):
            add(dep_t + 2e-4, cap, img, cover, pts[sh], pts[sh], r_up * 1.15, r_up * 1.15,
                self.shirt if self.sleeve != 2 else self.skin, light)
        # neck and head
        add(dep_t + 3e-4, cap, img, cover, pts[NECK], pts[0], 0.45 * r_head, 0.45 * r_head,
            self.skin, light)
        add(float(depth[0]) + 1e-3, self._head, img, cover, pts[0], pts[NECK], r_head, light)
        if self.hair_style == 1:  # long hair hangs behind the head (in front of it from behind)
            behind = np.cos(fig.yaw) > 0
            add(float(depth[0]) + (-0.5 if behind else 2e-3), cap, img, cover, pts[0],
                pts[0] + 1.1 * (pts[NECK] - pts[0]) + 0.3 * (pts[PELVIS] - pts[NECK]) * 0.3,
                r_head * 0.95, r_head * 0.8, self.hair, light)
        for _, _, fn, args, kw in sorted(parts, key=lambda p: (p[0], p[1])):
            fn(*args, **kw)
        return pts[:13]

    def _head(self, img, cover, c, neck, r, light) -> None:
        """Head: a skin disc, hair over the back and top (seen from the front, the side or
        behind: the face turns with the yaw), eyes when the face is towards the camera."""
        yaw = self.figure.yaw
        up = np.asarray(c, np.float32) - np.asarray(neck, np.float32)
        up /= np.linalg.norm(up) + 1e-6
        side = np.array([-up[1], up[0]], np.float32)
        facing = float(np.cos(yaw))           # 1 facing the camera, -1 facing away
        lateral = float(np.sin(yaw))          # where the face points across the image
        head_top = c + 0.08 * r * up
        paint_capsule(img, cover, c - 0.12 * r * up, head_top, 0.92 * r, 0.9 * r, self.skin, light)
        if self.hair_style == 2:
            return
        col = self.cap if self.hair_style == 3 else self.hair
        if facing < -0.35:                    # from behind: hair everywhere
            hc, hr = c + 0.05 * r * up, 0.98 * r
        else:                                 # a cap of hair, shifted to the back of the head
            hc = c + r * (0.4 * up * (0.5 + 0.5 * max(facing, 0.0)) - 0.35 * lateral * side)
            hr = 0.9 * r
        paint_capsule(img, cover, hc, hc + 0.05 * r * up, hr, hr, col, light)
        if facing > 0.3 and r >= 4:           # eyes: two dark dots on the face
            for sgn in (-1.0, 1.0):
                e = c - 0.05 * r * up + (0.3 * sgn + 0.45 * lateral) * r * side
                paint_capsule(img, cover, e, e, 0.11 * r, 0.11 * r, (30, 25, 25), light)
