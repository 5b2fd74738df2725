"""Joint sets of the two benchmarks: names, skeleton edges, flip pairs, PCK groups.

Pure Python/NumPy; everything else (codec, metrics, drawing, flip augmentation) reads the
joint layout from here so that no other module hard-codes an index.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

PCK_GROUPS = ("head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")


@dataclass(frozen=True)
class JointSet:
    """A dataset's joint layout.

    name:        short id ("penn", "jhmdb").
    names:       K joint names in the dataset's own order.
    skeleton:    (i, j) index pairs drawn as bones.
    flip_pairs:  (left, right) index pairs swapped by a horizontal flip.
    groups:      PCK group name -> joint indices (the benchmark's grouped table).
    torso:       (i, j): the pair whose distance is the torso size for torso-normalised PCK
                 (left shoulder to right hip in both datasets, as in LSP/MPII PCK).
    """

    name: str
    names: Tuple[str, ...]
    skeleton: Tuple[Tuple[int, int], ...]
    flip_pairs: Tuple[Tuple[int, int], ...]
    groups: Dict[str, Tuple[int, ...]]
    torso: Tuple[int, int]

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def flip_permutation(self) -> Tuple[int, ...]:
        """perm [K]: after a horizontal flip, joint k takes the values of joint perm[k]."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return tuple(perm)


# Penn Action: head, L/R shoulder, L/R elbow, L/R wrist, L/R hip, L/R knee, L/R ankle.
PENN_ACTION = JointSet(
    name="penn",
    names=(
        "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
        "left_ankle", "right_ankle",
    ),
    skeleton=(
        (0, 1), (0, 2), (1, 2), (1, 3), (3, 5), (2, 4), (4, 6),
        (1, 7), (2, 8), (7, 8), (7, 9), (9, 11), (8, 10), (10, 12),
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12)),
    groups={
        "head": (0,), "shoulder": (1, 2), "elbow": (3, 4), "wrist": (5, 6),
        "hip": (7, 8), "knee": (9, 10), "ankle": (11, 12),
    },
    torso=(1, 8),
)

# JHMDB (0-based): neck, belly, face, R/L shoulder, R/L hip, R/L elbow, R/L knee,
# R/L wrist, R/L ankle.
JHMDB = JointSet(
    name="jhmdb",
    names=(
        "neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip", "left_hip",
        "right_elbow", "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist",
        "right_ankle", "left_ankle",
    ),
    skeleton=(
        (2, 0), (0, 1), (0, 3), (0, 4), (3, 7), (7, 11), (4, 8), (8, 12),
        (1, 5), (1, 6), (5, 9), (9, 13), (6, 10), (10, 14),
    ),
    flip_pairs=((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14)),
    groups={
        "head": (0, 2), "shoulder": (3, 4), "elbow": (7, 8), "wrist": (11, 12),
        "hip": (5, 6), "knee": (9, 10), "ankle": (13, 14),
    },
    torso=(4, 5),
)

JOINT_SETS = {"penn": PENN_ACTION, "jhmdb": JHMDB}


def joint_set_for(num_joints: int) -> JointSet:
    """The joint set with that many joints (13 -> Penn Action, 15 -> JHMDB)."""
    for js in JOINT_SETS.values():
        if js.num_joints == num_joints:
            return js
    raise ValueError(f"no joint set with {num_joints} joints (Penn Action 13, JHMDB 15)")
