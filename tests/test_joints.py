"""Joint layouts of Penn Action (13) and JHMDB (15): order, flips, skeleton, PCK groups."""
from __future__ import annotations

import pytest

from dkd_tf.joints import JHMDB, JOINT_SETS, PCK_GROUPS, PENN_ACTION, joint_set_for

PENN_ORDER = (
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle",
)
JHMDB_ORDER = (
    "neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip", "left_hip",
    "right_elbow", "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist",
    "right_ankle", "left_ankle",
)
BOTH = pytest.mark.parametrize("js", [PENN_ACTION, JHMDB], ids=["penn", "jhmdb"])


def test_penn_order_matches_design():
    assert PENN_ACTION.num_joints == 13
    assert PENN_ACTION.names == PENN_ORDER


def test_jhmdb_order_matches_design():
    assert JHMDB.num_joints == 15
    assert JHMDB.names == JHMDB_ORDER


def test_registry_names():
    assert JOINT_SETS["penn"] is PENN_ACTION
    assert JOINT_SETS["jhmdb"] is JHMDB


@BOTH
def test_flip_permutation_is_an_involution(js):
    perm = js.flip_permutation()
    assert sorted(perm) == list(range(js.num_joints))  # a permutation
    assert tuple(perm[perm[k]] for k in range(js.num_joints)) == tuple(range(js.num_joints))
    assert perm != tuple(range(js.num_joints))  # it does move something


@BOTH
def test_flip_swaps_left_and_right_names(js):
    perm = js.flip_permutation()
    for k, name in enumerate(js.names):
        other = js.names[perm[k]]
        if name.startswith("left_"):
            assert other == "right_" + name[len("left_"):]
        elif name.startswith("right_"):
            assert other == "left_" + name[len("right_"):]
        else:  # centre joints stay put
            assert perm[k] == k


def test_flip_permutation_values():
    assert PENN_ACTION.flip_permutation() == (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11)
    assert JHMDB.flip_permutation() == (0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13)


@BOTH
def test_skeleton_indices_valid(js):
    assert len(js.skeleton) >= js.num_joints - 1  # enough bones to connect every joint
    for i, j in js.skeleton:
        assert 0 <= i < js.num_joints and 0 <= j < js.num_joints and i != j
    for a, b in js.flip_pairs:
        assert 0 <= a < js.num_joints and 0 <= b < js.num_joints
    assert all(0 <= t < js.num_joints for t in js.torso)


@BOTH
def test_skeleton_connects_all_joints(js):
    parent = list(range(js.num_joints))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for i, j in js.skeleton:
        parent[find(i)] = find(j)
    assert len({find(k) for k in range(js.num_joints)}) == 1


@BOTH
def test_groups_are_disjoint_and_valid(js):
    assert tuple(js.groups) == PCK_GROUPS
    members = [j for idx in js.groups.values() for j in idx]
    assert len(members) == len(set(members))  # no joint in two groups
    assert all(0 <= j < js.num_joints for j in members)


def test_penn_groups_cover_every_joint_once():
    members = [j for idx in PENN_ACTION.groups.values() for j in idx]
    assert sorted(members) == list(range(13))


def test_jhmdb_groups_cover_every_joint_but_belly():
    # the protocol's seven groups (head, shoulder, elbow, wrist, hip, knee, ankle) have no
    # place for the belly (torso centre): it counts in the pooled mean only (mmpose's JHMDB
    # table leaves it out of the groups too).
    members = [j for idx in JHMDB.groups.values() for j in idx]
    uncovered = sorted(set(range(15)) - set(members))
    assert [JHMDB.names[j] for j in uncovered] == ["belly"]
    assert sorted(members) == [j for j in range(15) if j != 1]
    assert [JHMDB.names[j] for j in JHMDB.groups["head"]] == ["neck", "face"]


@BOTH
def test_groups_are_named_consistently(js):
    for group, idx in js.groups.items():
        if group == "head":
            continue
        for j in idx:
            assert js.names[j].endswith("_" + group), (group, js.names[j])


def test_torso_pairs():
    assert [PENN_ACTION.names[t] for t in PENN_ACTION.torso] == ["left_shoulder", "right_hip"]
    assert [JHMDB.names[t] for t in JHMDB.torso] == ["left_shoulder", "right_hip"]
    assert PENN_ACTION.torso == (1, 8) and JHMDB.torso == (4, 5)


def test_joint_set_for():
    assert joint_set_for(13) is PENN_ACTION
    assert joint_set_for(15) is JHMDB
    with pytest.raises(ValueError, match="14"):
        joint_set_for(14)
    with pytest.raises(ValueError):
        joint_set_for(0)
