"""An articulated 2.5-D figure with the Penn Action skeleton, animated by named actions.

The figure lives in body units (torso length = 1) in a body frame with axes
(right, forward, down) and the pelvis at the origin; a camera yaw turns it, an in-plane roll
tilts it, and a scale in pixels places it. Limb angles: alpha swings a limb forward from
hanging straight down (pi = straight up), zeta spreads it sideways, elbow/knee flexion bends
the lower segment. Actions give those angles as smooth functions of the frame index, so
trajectories are plausible and differentiable in time.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ACTIONS = ("walk", "jump", "wave", "squat", "swing", "bend", "jumping_jacks")
# Bones drawn as capsules: (joint a, joint b, thickness key, colour key); the torso is a polygon.
_LIMBS = (
    (1, 3, "upper_arm", "shirt"), (3, 5, "forearm", "sleeve"),
    (2, 4, "upper_arm", "shirt"), (4, 6, "forearm", "sleeve"),
    (7, 9, "thigh", "pants"), (9, 11, "shin", "pants"),
    (8, 10, "thigh", "pants"), (10, 12, "shin", "pants"),
)
_RIGHT = (2, 4, 6, 8, 10, 12)


@dataclass
class Figure:
    """One person's appearance and motion parameters (drawn from a NumPy Generator)."""

    action: str
    freq: float          # cycles per frame
    phase: float
    amp: float
    yaw: float           # 0: facing the camera, +-pi/2: profile
    roll: float
    speed: float         # locomotion, body units per frame along the forward axis
    lengths: dict
    thick: dict
    colors: dict
    wave_side: int

    @staticmethod
    def random(rng: np.random.Generator, action: str | None = None) -> "Figure":
        action = action or ACTIONS[rng.integers(len(ACTIONS))]
        j = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
        lengths = dict(head=j(0.32, 0.42), shoulder=j(0.28, 0.42), hip=j(0.16, 0.24),
                       upper_arm=j(0.55, 0.7), forearm=j(0.5, 0.65), thigh=j(0.8, 0.98),
                       shin=j(0.78, 0.95))
        thick = dict(upper_arm=j(0.15, 0.24), forearm=j(0.12, 0.19), thigh=j(0.22, 0.32),
                     shin=j(0.16, 0.24), head=j(0.19, 0.25))
        c = lambda: tuple(int(v) for v in rng.integers(20, 236, 3))  # noqa: E731
        skin = tuple(int(v) for v in np.array([rng.uniform(90, 240)] * 3) * [1.0, 0.8, 0.65])
        shirt = c()
        colors = dict(shirt=shirt, sleeve=shirt if rng.random() < 0.5 else skin, pants=c(),
                      skin=skin)
        speed = j(0.02, 0.07) if action == "walk" else j(-0.01, 0.01)
        return Figure(action=action, freq=j(1 / 30, 1 / 12), phase=j(0, 2 * np.pi),
                      amp=j(0.75, 1.2), yaw=j(-1.9, 1.9), roll=j(-0.12, 0.12), speed=speed,
                      lengths=lengths, thick=thick, colors=colors,
                      wave_side=int(rng.integers(0, 3)))

    # ---- kinematics -------------------------------------------------------------------
    def angles(self, t: float) -> dict:
        """Joint angles and pelvis offset at frame t (body units / radians)."""
        p = 2 * np.pi * self.freq * t + self.phase
        a = self.amp
        z = dict(lean=0.05, head=0.0, drop=0.0,
                 arm_l=(0.1, 0.15, 0.25), arm_r=(0.1, 0.15, 0.25),
                 leg_l=(0.0, 0.06, 0.05), leg_r=(0.0, 0.06, 0.05))
        c = (1 - np.cos(p)) / 2  # 0..1 cycle
        if self.action == "walk":
            s = np.sin(p)
            z.update(arm_l=(0.45 * a * s, 0.1, 0.35), arm_r=(-0.45 * a * s, 0.1, 0.35),
                     leg_l=(-0.5 * a * s, 0.05, 0.25 + 0.5 * max(0.0, np.cos(p))),
                     leg_r=(0.5 * a * s, 0.05, 0.25 + 0.5 * max(0.0, -np.cos(p))),
                     drop=-0.04 * abs(s))
        elif self.action == "jump":
            up, crouch = max(0.0, np.sin(p)), max(0.0, -np.sin(p))
            arm = (0.4 + 2.4 * a * up, 0.2, 0.3)
            leg = (1.0 * crouch, 0.08, 1.7 * crouch)
            z.update(arm_l=arm, arm_r=arm, leg_l=leg, leg_r=leg, lean=0.35 * crouch,
                     drop=0.4 * crouch - 0.6 * a * up)
        elif self.action == "wave":
            wave = (2.3, 0.8 + 0.35 * a * np.sin(p), 0.4 + 0.5 * a * (1 + np.sin(p)))
            rest = (0.1 * np.sin(p / 2), 0.12, 0.3)
            z.update(arm_r=wave if self.wave_side != 1 else rest,
                     arm_l=wave if self.wave_side != 0 else rest)
        elif self.action == "squat":
            arm = (1.5 * c * a, 0.1, 0.1)
            leg = (1.4 * c, 0.1, 2.1 * c)
            z.update(arm_l=arm, arm_r=arm, leg_l=leg, leg_r=leg, lean=0.1 + 0.55 * c,
                     drop=0.6 * c)
        elif self.action == "swing":
            s = np.sin(p)
            z.update(arm_l=(1.0 + 1.5 * a * s, -0.35 * s + 0.3, 0.15),
                     arm_r=(1.0 + 1.5 * a * s, 0.35 * s + 0.3, 0.15),
                     leg_l=(0.15, 0.15, 0.35), leg_r=(0.15, 0.15, 0.35), lean=0.35,
                     drop=0.1)
        elif self.action == "bend":
            lean = 1.35 * c * a
            z.update(lean=lean, arm_l=(0.25 * np.sin(p), 0.1, 0.2 + 0.3 * c),
                     arm_r=(-0.25 * np.sin(p), 0.1, 0.2 + 0.3 * c), head=0.3 * c,
                     drop=0.1 * c)
        elif self.action == "jumping_jacks":
            arm = (0.05, 0.25 + 2.5 * c * a, 0.15)
            leg = (0.0, 0.05 + 0.4 * c, 0.05)
            z.update(arm_l=arm, arm_r=arm, leg_l=leg, leg_r=leg, drop=-0.2 * np.sin(2 * p) ** 2)
        return z

    def joints3d(self, t: float) -> np.ndarray:
        """Body-frame joints [13, 3] (right, forward, down) at frame t, body units."""
        z = self.angles(t)
        L = self.lengths
        out = np.zeros((13, 3))
        pelvis = np.array([0.0, self.speed * t, z["drop"]])

        def limb_dir(alpha, zeta, side):
            return np.array([side * np.sin(zeta), np.sin(alpha) * np.cos(zeta),
                             np.cos(alpha) * np.cos(zeta)])

        lean = z["lean"]
        neck = pelvis + np.array([0.0, np.sin(lean), -np.cos(lean)])
        out[0] = neck + L["head"] * np.array([0.0, np.sin(lean + z["head"]),
                                              -np.cos(lean + z["head"])])
        for side, sh, el, wr, hip, kn, an, arm, leg in (
                (-1, 1, 3, 5, 7, 9, 11, z["arm_l"], z["leg_l"]),
                (1, 2, 4, 6, 8, 10, 12, z["arm_r"], z["leg_r"])):
            out[sh] = neck + np.array([side * L["shoulder"], 0, 0.08])
            out[hip] = pelvis + np.array([side * L["hip"], 0, 0])
            al, ze, flex = arm
            out[el] = out[sh] + L["upper_arm"] * limb_dir(al, ze, side)
            out[wr] = out[el] + L["forearm"] * limb_dir(al + flex, ze, side)
            al, ze, flex = leg
            out[kn] = out[hip] + L["thigh"] * limb_dir(al, ze, side)
            out[an] = out[kn] + L["shin"] * limb_dir(al - flex, ze, side)
        return out

    def travel(self, t: float) -> np.ndarray:
        """Image-plane displacement [2] of the locomotion at frame t (body units), the part
        of the motion a camera operator follows (the pelvis path without the action's bob)."""
        x = self.speed * t * np.sin(self.yaw)
        return np.array([np.cos(self.roll) * x, np.sin(self.roll) * x])

    def project(self, t: float, origin, scale: float):
        """Image joints [13, 2] and depth [13] (larger = nearer the camera) at frame t."""
        return self.project_points(self.joints3d(t), origin, scale)

    def project_points(self, j3: np.ndarray, origin, scale: float):
        """Body-frame points [N, 3] -> image points [N, 2] and depth [N] (orthographic)."""
        cy, sy = np.cos(self.yaw), np.sin(self.yaw)
        # facing the camera (yaw 0) the person's right appears on the image's left
        x = -j3[:, 0] * cy + j3[:, 1] * sy
        depth = j3[:, 0] * sy + j3[:, 1] * cy
        y = j3[:, 2]
        cr, sr = np.cos(self.roll), np.sin(self.roll)
        xy = np.stack([cr * x - sr * y, sr * x + cr * y], axis=1)
        return np.asarray(origin) + scale * xy, depth

    # ---- drawing ----------------------------------------------------------------------
    def draw(self, img: np.ndarray, mask: np.ndarray, pts: np.ndarray, depth: np.ndarray,
             scale: float) -> None:
        """Draws the figure into img [H, W, 3] uint8 and its silhouette into mask [H, W]."""
        sh = 4  # sub-pixel drawing: coordinates in 1/16 px, so slow motion stays smooth
        P = np.round(pts * (1 << sh)).astype(np.int32)
        near = (1.0, 0.72)  # far-side parts darker: a left/right cue, as in real video

        def shade(col, j):
            f = near[0] if depth[j] >= np.median(depth) else near[1]
            return tuple(int(v * f) for v in col)

        parts = []
        for a, b, tk, ck in _LIMBS:
            parts.append((min(depth[a], depth[b]), "limb", a, b, tk, ck))
        parts.append((float(np.mean(depth[[1, 2, 7, 8]])) - 1e-3, "torso", 0, 0, "", ""))
        parts.append((float(depth[0]), "head", 0, 0, "", ""))
        for _, kind, a, b, tk, ck in sorted(parts, key=lambda r: r[0]):
            if kind == "limb":
                th = max(1, int(round(self.thick[tk] * scale)))
                col = shade(self.colors[ck], a)
                cv2.line(img, tuple(P[a]), tuple(P[b]), col, th, cv2.LINE_AA, sh)
                cv2.line(mask, tuple(P[a]), tuple(P[b]), 255, th, cv2.LINE_8, sh)
                if b in (5, 6):
                    r = max(1, int(round(0.55 * self.thick["forearm"] * scale * (1 << sh))))
                    cv2.circle(img, tuple(P[b]), r, shade(self.colors["skin"], b), -1,
                               cv2.LINE_AA, sh)
                    cv2.circle(mask, tuple(P[b]), r, 255, -1, cv2.LINE_8, sh)
            elif kind == "torso":
                poly = P[[1, 2, 8, 7]]
                cv2.fillConvexPoly(img, poly, self.colors["shirt"], cv2.LINE_AA, sh)
                cv2.fillConvexPoly(mask, poly, 255, cv2.LINE_8, sh)
            else:
                r = max(1, int(round(self.thick["head"] * scale * (1 << sh))))
                cv2.circle(img, tuple(P[0]), r, self.colors["skin"], -1, cv2.LINE_AA, sh)
                cv2.circle(mask, tuple(P[0]), r, 255, -1, cv2.LINE_8, sh)
                if abs(self.yaw) < 1.4:  # a face mark shows which way the person faces
                    off = np.array([np.sin(self.yaw), 0.1]) * 0.55 * r
                    cv2.circle(img, tuple((P[0] + off).astype(np.int32)), max(1, r // 3),
                               (40, 30, 30), -1, cv2.LINE_AA, sh)
