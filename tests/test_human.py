"""The human-like renderer (dkd_tf/data/human.py) and the scenes (dkd_tf/data/scene.py)."""
from __future__ import annotations

import numpy as np
import pytest

from dkd_tf.data.figure import Figure
from dkd_tf.data.human import HumanBody, paint_capsule
from dkd_tf.data.scene import KINDS, Scene
from dkd_tf.data.synthetic import SyntheticVideos

LIGHT = np.array([0.0, 0.0, 1.0], np.float32)  # light from the camera


def _canvas(n=64, v=0.0):
    return np.full((n, n, 3), v, np.float32), np.zeros((n, n), np.float32)


def test_capsule_disc_area_and_colour():
    """A zero-length capsule is a disc: coverage sums to pi r^2 (anti-aliased edge), and
    its centre, lit head-on, has the colour x (ambient + diffuse) = x 1.13."""
    img, cov = _canvas()
    paint_capsule(img, cov, (32, 32), (32, 32), 10.0, 10.0, (100, 50, 20), LIGHT)
    assert cov.sum() == pytest.approx(np.pi * 100, rel=0.03)
    np.testing.assert_allclose(img[32, 32], np.array([100, 50, 20]) * 1.13, rtol=1e-3)
    assert cov[32, 32] == 1.0 and cov[32, 45] == 0.0 and cov[0, 0] == 0.0


def test_capsule_length_width_and_flat_ends():
    """A horizontal capsule of length 30 and radius 5: area 30 x 10 + pi 25 with round
    ends, 30 x 10 with flat ends; the cylinder shading is brightest on the axis and falls
    off symmetrically towards the edges."""
    img, cov = _canvas()
    paint_capsule(img, cov, (15, 32), (45, 32), 5.0, 5.0, (200, 200, 200), LIGHT)
    assert cov.sum() == pytest.approx(300 + np.pi * 25, rel=0.03)
    col = img[:, 30, 0]
    assert col[32] == col.max()
    np.testing.assert_allclose(col[29], col[35], rtol=1e-5)
    assert col[29] < col[31] < col[32]
    img2, cov2 = _canvas()
    paint_capsule(img2, cov2, (15, 32), (45, 32), 5.0, 5.0, (200, 200, 200), LIGHT,
                  round_a=False, round_b=False)
    assert cov2.sum() == pytest.approx(300, rel=0.04)
    assert cov2[32, 12] == 0.0 and cov[32, 12] > 0.5


def test_capsule_blends_over_the_background_and_clips_at_the_border():
    img, cov = _canvas(v=255.0)
    paint_capsule(img, cov, (-5, 10), (5, 10), 4.0, 4.0, (0, 0, 0), LIGHT)  # half outside
    assert 0 < cov.sum() < np.pi * 16 + 8 * 10
    edge = (cov > 0) & (cov < 1)
    assert edge.any()
    # a half-covered pixel is half way between the background and the part's colour
    y, x = np.argwhere(edge)[0]
    assert img[y, x, 0] == pytest.approx(255 * (1 - cov[y, x]), abs=1e-3)


def test_body_is_drawn_where_the_labels_are():
    """The painter returns the figure's own projected joints, and the silhouette covers
    the torso, the head and the joints of the limbs in view."""
    rng = np.random.default_rng(0)
    for _ in range(6):
        fig = Figure.random(rng)
        body = HumanBody(rng, fig)
        img, cov = _canvas(160, 128.0)
        pts = body.draw(img, cov, 3.0, (80, 60), 25.0, LIGHT)
        ref, _ = fig.project(3.0, (80, 60), 25.0)
        np.testing.assert_allclose(pts, ref, atol=1e-9)
        ix = np.round(pts).astype(int)
        assert (cov[ix[:, 1], ix[:, 0]] > 0.5).mean() >= 12 / 13
        assert cov.sum() > 0.4 * 25 * 25  # a body, not a wireframe


def test_scene_perspective_and_props():
    rng = np.random.default_rng(1)
    for kind in KINDS:
        sc = Scene(rng, 96, feet_y=110.0, person_height=60.0, kind=kind)
        assert sc.canvas.shape == (153, 153, 3) and np.isfinite(sc.canvas).all()
        assert sc.horizon < 110.0
        # a person standing at the labelled person's row has their height; halfway to the
        # horizon, half of it
        assert sc.scale_at(110.0) == pytest.approx(60.0)
        assert sc.scale_at((110.0 + sc.horizon) / 2) == pytest.approx(30.0, rel=1e-6)
        assert sc.canvas.std() > 5


def test_shadow_darkens_under_the_feet_only():
    rng = np.random.default_rng(2)
    sc = Scene(rng, 64, 80.0, 40.0)
    img = np.full((64, 64, 3), 100.0, np.float32)
    sc.shadow(img, np.array([[30.0, 50.0], [34.0, 50.0]]), 10.0, LIGHT, 0.5)
    assert img[50, 32, 0] < 70 and img[10, 32, 0] == 100.0 and img[50, 5, 0] == 100.0


def test_synthetic_set_has_people_of_many_sizes_and_scenes():
    gen = SyntheticVideos(size=64, num_frames=2, seed=5)
    vids = [gen.video(i) for i in range(40)]
    heights = np.array([np.ptp(v["joints"][0, :, 1]) for v in vids]) / 64
    assert heights.min() < 0.3 and heights.max() > 0.5   # small and large people
    assert len({v["scene"] for v in vids}) == len(KINDS)
