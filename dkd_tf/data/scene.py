"""A place for the synthetic person to stand in: ground plane, horizon, sky or wall, props.

Why: real footage has a ground the person stands on, a horizon, far things out of focus and
many straight, limb-sized objects that a model trained on stick figures takes for people
(goal posts, poles, fences, tree trunks, door frames). The scene puts those in, as hard
negatives, at sizes that follow the ground plane's perspective (an object standing further
up the ground, nearer the horizon, is smaller).

Kinds: "field" (sky, tree line, mown grass with white lines, goal posts), "street" (sky,
building fronts with windows, asphalt, lamp posts, fences), "gym" (wall with door frames and
wall bars, wooden floor with court lines), "court" (hard court, fence behind, poles), "park"
(trees, grass, a path). The canvas is static; the camera pans and zooms over it.

Shapes: canvas float32 [C, C, 3] RGB 0..255, C = 1.6 x the frame size.
"""
from __future__ import annotations

import cv2
import numpy as np

from .human import paint_capsule

KINDS = ("field", "street", "gym", "court", "park")
_UP_LIGHT = np.array([0.3, -0.6, 0.74], np.float32)


def _noise(rng, h, w, sigma) -> np.ndarray:
    """Smooth noise [h, w] float32 in about [-1, 1]."""
    n = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigma)
    return n / (np.abs(n).max() + 1e-6)


class Scene:
    """A static scene canvas with a horizon, and where things stand on its ground."""

    def __init__(self, rng: np.random.Generator, size: int, feet_y: float, person_height: float,
                 kind: str | None = None):
        """feet_y: canvas row where the labelled person stands; person_height: their height
        in canvas pixels there (props are sized against it)."""
        self.size = int(size)
        c = self.c = int(size * 1.6)
        self.kind = kind or KINDS[int(rng.integers(len(KINDS)))]
        self.feet_y = float(feet_y)
        self.person_height = float(person_height)
        # horizon between a bit above the person's head (camera at eye level) and well above
        self.horizon = float(np.clip(feet_y - person_height * rng.uniform(0.9, 2.5),
                                     0.04 * c, feet_y - 0.3 * person_height))
        self.canvas = np.empty((c, c, 3), np.float32)
        self._upper(rng)
        self._ground(rng)
        self._far_band(rng)
        for _ in range(int(rng.integers(2, 7))):
            self._prop(rng)
        if rng.random() < 0.75:  # depth of field: the scene behind the person out of focus
            sig = rng.uniform(0.4, 2.2) * size / 128
            self.canvas = cv2.GaussianBlur(self.canvas, (0, 0), sig)
        # slow light falloff over the scene (sun, lamps)
        g = 1.0 + rng.uniform(0.05, 0.3) * _noise(rng, c, c, c / 6)
        self.canvas *= g[..., None]

    # ---- geometry ----------------------------------------------------------------------
    def scale_at(self, y: float) -> float:
        """Height of a person standing at canvas row y, from the ground plane's perspective
        (proportional to the distance below the horizon)."""
        return self.person_height * max(y - self.horizon, 1.0) / max(self.feet_y - self.horizon, 1.0)

    def ground_row(self, rng, near: bool = False) -> float:
        lo = self.horizon + 0.05 * (self.c - self.horizon)
        return float(rng.uniform(self.feet_y if near else lo, self.c))

    # ---- painting ----------------------------------------------------------------------
    def _upper(self, rng) -> None:
        c, h = self.c, int(self.horizon)
        img = self.canvas
        if self.kind == "gym":
            wall = rng.uniform([150, 140, 120], [235, 230, 220])
            if rng.random() < 0.4:
                wall = rng.uniform(60, 200, 3)
            img[:] = wall
            # panels and a baseboard
            for _ in range(int(rng.integers(0, 4))):
                x, w = rng.uniform(0, c), rng.uniform(0.05, 0.3) * c
                y0 = rng.uniform(0, max(1, h * 0.6))
                cv2.rectangle(img, (int(x), int(y0)), (int(x + w), int(y0 + rng.uniform(0.05, 0.3) * c)),
                              tuple(float(v) for v in rng.uniform(40, 230, 3)), -1)
            cv2.rectangle(img, (0, max(0, h - int(0.015 * c))), (c, h), tuple(float(v) for v in wall * 0.6), -1)
        else:
            if rng.random() < 0.6:
                top, bottom = rng.uniform([60, 110, 180], [120, 170, 240]), rng.uniform([170, 195, 225], [220, 230, 250])
            else:  # overcast
                v = rng.uniform(150, 215)
                top, bottom = np.array([v, v, v + 8]), np.array([v + 25, v + 25, v + 28])
            g = np.linspace(0, 1, c, dtype=np.float32)[:, None, None]
            img[:] = top * (1 - g) + bottom * g
            clouds = np.maximum(_noise(rng, c, c, c / 12), 0)[..., None]
            img += 60 * clouds * rng.uniform(0, 1)

    def _ground(self, rng) -> None:
        c, h = self.c, int(self.horizon)
        if h >= c:
            return
        rows = c - h
        yy = np.arange(rows, dtype=np.float32)[:, None] + 1.0
        kind = self.kind
        if kind in ("field", "park"):
            base = rng.uniform([50, 100, 30], [110, 165, 75])
        elif kind == "street":
            base = np.full(3, rng.uniform(70, 130)) + rng.uniform(-5, 5, 3)
        elif kind == "court":
            base = [rng.uniform([40, 90, 130], [80, 130, 180]), rng.uniform([60, 110, 60], [100, 150, 90]),
                    rng.uniform([150, 70, 50], [200, 110, 80])][int(rng.integers(3))]
        else:  # gym: wood
            base = rng.uniform([150, 100, 60], [210, 160, 110])
        ground = np.empty((rows, c, 3), np.float32)
        ground[:] = base
        tex = 1.0 + 0.12 * _noise(rng, rows, c, 1.5) + 0.08 * _noise(rng, rows, c, 6)
        if kind in ("field", "park") and rng.random() < 0.7:
            # mowing stripes: bands whose width grows towards the camera
            band = np.floor(np.log1p(yy / (0.03 * c)) * rng.uniform(2.5, 5))
            tex = tex * np.where(band % 2 == 0, 0.92, 1.06)
        if kind == "gym":
            band = np.floor(np.log1p(yy / (0.01 * c)) * rng.uniform(6, 10))
            tex = tex * np.where(band % 2 == 0, 0.95, 1.04) * (1 + 0.05 * np.sin(np.arange(c) * rng.uniform(0.3, 0.8)))[None, :]
        ground *= tex[..., None]
        # court or field lines converging on a vanishing point on the horizon
        if kind in ("field", "gym", "court") or rng.random() < 0.3:
            col = (240.0, 240.0, 240.0) if kind != "gym" else tuple(float(v) for v in rng.uniform(20, 240, 3))
            vp = rng.uniform(-0.5, 1.5) * c
            for _ in range(int(rng.integers(1, 5))):
                xb = rng.uniform(-0.5, 1.5) * c
                cv2.line(ground, (int(vp), 0), (int(xb), rows), col, max(1, int(0.006 * c)), cv2.LINE_AA)
            for _ in range(int(rng.integers(0, 3))):
                y = int(rng.uniform(0.1, 1) * rows)
                cv2.line(ground, (0, y), (c, y), col, max(1, int(0.004 * c * (1 + y / rows))), cv2.LINE_AA)
        self.canvas[h:] = ground

    def _far_band(self, rng) -> None:
        """Things at the horizon: a tree line or building fronts (gym: nothing)."""
        c, h = self.c, self.horizon
        img = self.canvas
        if self.kind == "gym" or h < 0.02 * c:
            return
        if self.kind == "street" or rng.random() < 0.25:
            x = rng.uniform(-0.2, 0) * c
            while x < c:
                w, ht = rng.uniform(0.15, 0.5) * c, rng.uniform(0.1, 0.6) * c
                col = rng.uniform(60, 200, 3)
                y0 = max(0.0, h - ht)
                cv2.rectangle(img, (int(x), int(y0)), (int(x + w), int(h)), tuple(float(v) for v in col), -1)
                win = col * rng.uniform(0.3, 0.7)
                step = rng.uniform(0.03, 0.07) * c
                for wy in np.arange(y0 + step * 0.5, h - step * 0.5, step):
                    for wx in np.arange(x + step * 0.4, x + w - step * 0.5, step):
                        cv2.rectangle(img, (int(wx), int(wy)), (int(wx + step * 0.5), int(wy + step * 0.55)),
                                      tuple(float(v) for v in win), -1)
                x += w + rng.uniform(0, 0.1) * c
        else:
            col = rng.uniform([20, 50, 20], [70, 110, 60])
            for _ in range(int(rng.integers(10, 30))):
                x, r = rng.uniform(0, c), rng.uniform(0.03, 0.1) * c
                cv2.circle(img, (int(x), int(h - r * rng.uniform(0.2, 1.2))), int(r),
                           tuple(float(v) for v in col * rng.uniform(0.8, 1.2)), -1, cv2.LINE_AA)

    def _prop(self, rng) -> None:
        """One hard negative standing on the ground: pole, goal, fence, trunk, door frame or bar."""
        c = self.c
        img = self.canvas
        cover = np.zeros((c, c), np.float32)
        kind = self.kind
        choices = {"field": ("goal", "pole", "fence", "bar"), "street": ("pole", "fence", "trunk", "door"),
                   "gym": ("door", "bars", "pole", "goal"), "court": ("fence", "pole", "goal", "bar"),
                   "park": ("trunk", "pole", "fence", "bar")}[kind]
        what = choices[int(rng.integers(len(choices)))]
        yb = self.ground_row(rng)
        ph = self.scale_at(yb)  # a person's height at that row
        x = rng.uniform(0, c)
        light = _UP_LIGHT
        col = np.array(rng.choice([[235, 235, 235], [130, 130, 135], [60, 60, 65], [40, 90, 50],
                                   [170, 60, 40]]), np.float32) * rng.uniform(0.85, 1.1)
        if what == "pole":
            w = ph * rng.uniform(0.03, 0.08)
            top = yb - ph * rng.uniform(1.2, 3.5)
            paint_capsule(img, cover, (x, yb), (x + rng.normal(0, 0.02) * ph, top), w, w * 0.9, col,
                          light, round_a=False)
            if rng.random() < 0.4:  # a lamp or sign on top
                paint_capsule(img, cover, (x, top), (x + rng.choice([-1, 1]) * ph * 0.3, top), w, w,
                              col, light)
        elif what == "goal":
            w, gw = ph * rng.uniform(0.03, 0.06), ph * rng.uniform(1.2, 3.0)
            gh = ph * rng.uniform(0.9, 1.4)
            white = np.array([240, 240, 240], np.float32)
            if rng.random() < 0.5:  # a net behind the frame
                for k in np.arange(0, 1.0, rng.uniform(0.04, 0.1)):
                    cv2.line(img, (int(x + k * gw), int(yb - gh)), (int(x + k * gw), int(yb)), (200, 200, 200), 1)
                    cv2.line(img, (int(x), int(yb - gh + k * gh)), (int(x + gw), int(yb - gh + k * gh)), (200, 200, 200), 1)
            paint_capsule(img, cover, (x, yb), (x, yb - gh), w, w, white, light, round_a=False)
            paint_capsule(img, cover, (x + gw, yb), (x + gw, yb - gh), w, w, white, light, round_a=False)
            paint_capsule(img, cover, (x, yb - gh), (x + gw, yb - gh), w, w, white, light)
        elif what == "fence":
            rail_h = ph * rng.uniform(0.4, 1.2)
            x1 = x + rng.uniform(0.3, 1.0) * c
            w = ph * rng.uniform(0.015, 0.04)
            step = ph * rng.uniform(0.1, 0.4)
            for bx in np.arange(x, x1, step):
                paint_capsule(img, cover, (bx, yb), (bx, yb - rail_h), w, w, col, light, round_a=False)
            for fy in (yb - rail_h * 0.95, yb - rail_h * 0.45):
                paint_capsule(img, cover, (x, fy), (x1, fy), w, w, col, light)
        elif what == "trunk":
            w = ph * rng.uniform(0.06, 0.15)
            top = yb - ph * rng.uniform(1.5, 3.0)
            bark = np.array([rng.uniform(60, 110), rng.uniform(45, 80), rng.uniform(30, 55)], np.float32)
            paint_capsule(img, cover, (x, yb), (x, top), w, w * 0.7, bark, light, (1, max(2.0, w), 0.0),
                          round_a=False)
            for _ in range(int(rng.integers(1, 4))):  # branches: limb-like
                by = rng.uniform(top, top + 0.4 * (yb - top))
                rng.random()  # an unused draw, kept so the set is the one the default model saw
                ang = rng.uniform(-2.4, -0.7)
                L = ph * rng.uniform(0.3, 0.8)
                sgn = rng.choice([-1, 1])
                paint_capsule(img, cover, (x, by), (x + sgn * L * abs(np.cos(ang)), by + L * np.sin(ang)),
                              w * 0.35, w * 0.2, bark, light)
            leaf = np.array([rng.uniform(30, 80), rng.uniform(70, 130), rng.uniform(25, 60)], np.float32)
            for _ in range(int(rng.integers(3, 8))):
                q = (int(x + rng.normal(0, 0.4) * ph), int(top + rng.normal(0, 0.25) * ph))
                cv2.circle(img, q, int(ph * rng.uniform(0.2, 0.5)), tuple(float(v) for v in leaf * rng.uniform(0.8, 1.2)),
                           -1, cv2.LINE_AA)
        elif what == "door":
            dh, dw = ph * rng.uniform(1.1, 1.5), ph * rng.uniform(0.5, 0.8)
            y0 = min(yb, self.horizon + 0.02 * c) if kind == "gym" else yb
            frame = np.array(rng.choice([[240, 240, 235], [120, 80, 50], [90, 90, 95]]), np.float32)
            cv2.rectangle(img, (int(x), int(y0 - dh)), (int(x + dw), int(y0)),
                          tuple(float(v) for v in rng.uniform(30, 160, 3)), -1)
            w = dw * rng.uniform(0.05, 0.1)
            for a, b in (((x, y0), (x, y0 - dh)), ((x + dw, y0), (x + dw, y0 - dh)), ((x, y0 - dh), (x + dw, y0 - dh))):
                paint_capsule(img, cover, a, b, w, w, frame, light, round_a=False, round_b=False)
        elif what == "bars":  # wall bars: a ladder of limb-thick rungs
            bh, bw = ph * rng.uniform(1.2, 1.8), ph * rng.uniform(0.4, 1.0)
            y0 = min(yb, self.horizon + 0.02 * c)
            w = ph * rng.uniform(0.015, 0.03)
            wood = np.array([190, 150, 100], np.float32) * rng.uniform(0.8, 1.1)
            for bx in (x, x + bw):
                paint_capsule(img, cover, (bx, y0), (bx, y0 - bh), w * 1.5, w * 1.5, wood, light)
            for ry in np.arange(y0 - bh, y0, bh / rng.integers(6, 12)):
                paint_capsule(img, cover, (x, ry), (x + bw, ry), w, w, wood, light)
        else:  # a loose limb-sized bar lying or leaning (bats, sticks, hurdles)
            L = ph * rng.uniform(0.2, 0.6)
            ang = rng.uniform(0, np.pi)
            w = ph * rng.uniform(0.02, 0.05)
            paint_capsule(img, cover, (x, yb), (x + L * np.cos(ang), yb - L * abs(np.sin(ang))), w, w, col, light)

    def shadow(self, img: np.ndarray, feet, width: float, light: np.ndarray, strength: float) -> None:
        """Darkens a soft ellipse on the ground under the feet (image pixels), in place.

        feet [2, 2] (the two ankles); width: the body's width in pixels; the shadow leans
        away from the light."""
        H, W = img.shape[:2]
        fx, fy = float(np.mean(feet[:, 0])), float(np.max(feet[:, 1]))
        ax, ay = max(2.0, width), max(1.0, 0.18 * width)
        cx = fx - light[0] / max(light[2], 0.2) * 0.6 * width
        x0, x1 = int(max(0, cx - 2 * ax)), int(min(W, cx + 2 * ax + 1))
        y0, y1 = int(max(0, fy - 3 * ay)), int(min(H, fy + 3 * ay + 1))
        if x0 >= x1 or y0 >= y1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        e = ((xx - cx) / ax) ** 2 + ((yy - fy) / ay) ** 2
        dark = 1.0 - strength * np.clip(1.2 - e, 0.0, 1.0) / 1.2
        img[y0:y1, x0:x1] *= dark[..., None]
