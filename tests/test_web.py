"""The browser page (web/, LiteRT.js) in headless Chromium against the Python runtime.

The page runs the committed android_demo_assets on a held-out synthetic clip (160 x 120:
the letterbox resizes and pads it); `python -m dkd_tf.infer` runs the same graphs on the same
decoded frames. Needs Debian's chromium and `npm ci` in web/ (.ci/run installs both).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from dkd_tf import web
from dkd_tf.errors import run_cli
from fixtures_edge import synthetic_clip

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "android_demo_assets")
SIZE = (160, 120)       # the clip's frame size (w, h)
STRIDE_PX = 4 / 0.8     # one heatmap cell in frame pixels: stride 4 / letterbox scale 128 / 160


def _need_browser():
    if not os.access(web.CHROMIUM, os.X_OK):
        pytest.skip(f"{web.CHROMIUM} missing (apt-get install chromium; .ci/run installs it)")
    if not os.path.isfile(os.path.join(web.LITERT_DIR, "core", "dist", "index.js")):
        pytest.skip("web/node_modules missing (npm ci in web/; .ci/run runs it)")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """{"long": 34 frames (re-initialised at frame 30), "short": its first 12} as MJPG AVIs,
    "frames": the BGR frames written."""
    import cv2

    d = tmp_path_factory.mktemp("web_clips")
    frames = [_frame(f) for f in synthetic_clip(128, 34, index=5)["frames"]]
    out = {"frames": frames}
    for name, n in (("long", 34), ("short", 12)):
        out[name] = str(d / f"{name}.avi")
        vw = cv2.VideoWriter(out[name], cv2.VideoWriter_fourcc(*"MJPG"), 25.0, SIZE)
        for f in frames[:n]:
            vw.write(f)
        vw.release()
    return out


def _frame(rgb):
    """A 128 x 128 RGB synthetic frame -> BGR 160 x 120: scaled to 120 x 120 on grey."""
    import cv2

    canvas = np.full((SIZE[1], SIZE[0], 3), 90, np.uint8)
    canvas[:, 20:140] = cv2.resize(rgb[..., ::-1], (120, 120), interpolation=cv2.INTER_AREA)
    return canvas


def _infer(video, out, *extra):
    from dkd_tf.infer import main

    assert main([video, "--assets", ASSETS, "--json", str(out), "--no-progress", *extra]) == 0
    with open(out) as f:
        return json.load(f)


def _keypoints(doc):
    return np.array([f["keypoints"] for f in doc["frames"]], np.float64)  # [T, K, 3]


def _page(video, out, backend="wasm", infer_argv=()):
    web.check_page(video, ASSETS, str(out), backend, infer_argv, timeout=240)
    with open(out) as f:
        return json.load(f)


def _assert_same_run(page, ref, tol_px):
    """Same frames (every one present, in order), initializer frames and settings; every
    joint of every frame within tol_px of infer's. -> the largest difference (px)."""
    assert [f["index"] for f in page["frames"]] == list(range(len(ref["frames"])))
    assert page["complete"] is True and page["frames_written"] == len(ref["frames"])
    assert [f["initializer"] for f in page["frames"]] == [f["initializer"] for f in ref["frames"]]
    for key in ("joints", "fps", "width", "height", "roi", "reinit_every", "smooth"):
        assert page[key] == ref[key], key
    kp, rk = _keypoints(page), _keypoints(ref)
    dist = np.linalg.norm(kp[..., :2] - rk[..., :2], axis=-1)   # [T, K]
    worst = np.unravel_index(np.argmax(dist), dist.shape)
    assert dist.max() <= tol_px, \
        f"max keypoint difference {dist.max():.4f} px > {tol_px} (frame, joint {worst})"
    return float(dist.max())


@pytest.mark.slow
@pytest.mark.parametrize("roi", ["full", "person", "track"])
def test_wasm_page_matches_infer(clips, tmp_path, roi):
    """Wasm: the same graphs on the same CPU kernel family, the same letterbox (cv2.resize's
    fixed-point arithmetic in JS), the same integer-window crops and heatmap warp (both
    defined to be computed bit for bit alike) and DARK decode: within 0.05 px on every joint
    of every frame. roi full: whole frames; person (infer's default): the person found by a
    whole-frame pass, crops moved and the state re-anchored; track: crops from frame 1."""
    _need_browser()
    argv = ("--roi", roi)
    ref = _infer(clips["long"], tmp_path / "ref.json", *argv)
    page = _page(clips["long"], tmp_path / "page.json", "wasm", argv)
    assert [f["initializer"] for f in ref["frames"]].count(True) == 2  # frames 0 and 30
    assert page["roi"] == roi and (roi == "full") == (page["reanchors"] == 0)
    _assert_same_run(page, ref, 0.05)
    assert np.abs(_keypoints(page)[..., 2] - _keypoints(ref)[..., 2]).max() <= 1e-3
    assert page["backend"] == "wasm" and page["ms_per_frame"] > 0


@pytest.mark.slow
def test_webgpu_page_within_one_heatmap_cell(clips, tmp_path):
    """WebGPU (SwiftShader in headless Chromium), infer's default options (roi person):
    every joint of every frame within one heatmap cell in frame pixels."""
    _need_browser()
    ref = _infer(clips["short"], tmp_path / "ref.json")
    page = _page(clips["short"], tmp_path / "page.json", "webgpu")
    assert ref["roi"] == "person"
    _assert_same_run(page, ref, STRIDE_PX)
    assert page["backend"] == "webgpu"


def _write_y4m(path, frames_bgr, fps=25):
    """Chromium's fake camera file: YUV4MPEG2, 4:2:0."""
    import cv2

    h, w = frames_bgr[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for fr in frames_bgr:
            f.write(b"FRAME\n" + cv2.cvtColor(fr, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def _live_page(source, flags=(), pick=None, **query):
    """The page with a live source (source=camera or file, results reported); pick: a video
    file given to the page's file input. -> (results, summary)."""
    from dkd_tf.infer import build_parser

    got = []
    session = web.CheckSession(None, got.append)
    srv = web.start_server(ASSETS, "127.0.0.1", 0, session)
    browser = web.Chromium(web.CHROMIUM, flags)
    try:
        opts = web.page_options(build_parser().parse_args([]), "wasm", source=source,
                                report=1, **query)
        browser.open_page(web.page_url("127.0.0.1", srv.server_address[1], opts))
        if pick is not None:
            t0 = time.monotonic()  # the file input is wired once the graphs are compiled
            while not str(browser.send("Runtime.evaluate", {"returnByValue": True, "expression":
                          "document.getElementById('status').textContent"})["result"]
                          .get("value")).startswith("ready"):
                assert time.monotonic() - t0 < 60 and session.error is None, session.error
                time.sleep(0.2)
            root = browser.send("DOM.getDocument")["root"]["nodeId"]
            node = browser.send("DOM.querySelector", {"nodeId": root, "selector": "#file"})
            browser.send("DOM.setFileInputFiles", {"files": [pick], "nodeId": node["nodeId"]})
        assert session.done.wait(120), f"no end after {len(got)} frames"
    finally:
        browser.close()
        srv.shutdown()
        srv.server_close()
    assert session.error is None, session.error
    return got, session.summary


def _assert_tracks(got, ref):
    """Each live frame's keypoints lie within one heatmap cell (mean over joints) of infer's
    keypoints on some frame of the clip, and they move with the person."""
    assert [r["index"] for r in got] == list(range(len(got))) and got[0]["initializer"]
    live = np.array([r["keypoints"] for r in got])[..., :2]                       # [N, K, 2]
    dist = np.linalg.norm(live[:, None] - ref[None, :, :, :2], axis=-1).mean(-1)  # [N, T]
    assert np.median(dist.min(1)) < STRIDE_PX, dist.min(1)
    assert np.ptp(live.mean(1), axis=0).max() > 2.0


@pytest.mark.slow
def test_page_tracks_a_fake_camera(clips, tmp_path):
    """Chromium's fake camera plays the clip (looping) into getUserMedia."""
    _need_browser()
    ref = _keypoints(_infer(clips["long"], tmp_path / "ref.json"))
    y4m = _write_y4m(str(tmp_path / "cam.y4m"), clips["frames"])
    got, summary = _live_page("camera", ("--use-fake-device-for-media-stream",
                                         "--use-fake-ui-for-media-stream",
                                         f"--use-file-for-fake-video-capture={y4m}"),
                              max_frames=20)
    assert len(got) == 20 and summary["frames"] == 20
    _assert_tracks(got, ref)


@pytest.mark.slow
def test_page_tracks_a_picked_video_file(clips, tmp_path):
    """A VP8 WebM given to the page's file input plays in real time (frames that arrive
    while one is processed are skipped) until it ends."""
    import cv2

    _need_browser()
    ref = _keypoints(_infer(clips["long"], tmp_path / "ref.json"))
    path = str(tmp_path / "pick.webm")
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"VP80"), 25.0, SIZE)
    assert vw.isOpened(), "OpenCV cannot write VP8 WebM here"
    for f in clips["frames"]:
        vw.write(f)
    vw.release()
    got, summary = _live_page("file", pick=path)
    assert len(got) >= 5 and summary["frames"] == len(got)
    _assert_tracks(got, ref)


def test_page_image_ops_are_the_runtimes(tmp_path):
    """web/imageops.js and region.js in the browser against OpenCV and dkd_tf/runtime/
    geometry.py on random images, all bit-exact: resize (odd widths included), the
    letterbox's pad and offsets, the integer windows of random crops (cropWindow), their
    pixels and A (windowCrop: inside, across and beyond the frame's edges) and the heatmap
    warp between consecutive crops (warpHeatmaps)."""
    import cv2

    from dkd_tf.codec import encode_heatmaps
    from dkd_tf.runtime import crop_window, warp_heatmaps, window_crop

    _need_browser()
    rng = np.random.default_rng(0)
    cases = [(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), nw, nh)
             for (w, h, nw, nh) in ((160, 120, 128, 96), (50, 40, 37, 30), (90, 160, 72, 128),
                                    (100, 300, 43, 128), (333, 250, 128, 96))]
    frame = cases[0][0]                                   # 160 x 120
    boxes = [[float(x), float(y), float(d)] for x, y, d in
             rng.uniform([0, 0, 16], [159, 119, 192], (12, 3))]
    boxes += [[79.5, 59.5, 64.5], [0.0, 0.0, 16.0], [159.0, 119.0, 192.0], [80.0, 60.0, 128.0]]
    hm = encode_heatmaps(rng.uniform(8, 120, (13, 2)), np.ones(13, bool), 128, 32,
                         sigma=2.0).astype(np.float32)
    js = json.dumps({"cases": [[c.ravel().tolist(), c.shape[1], c.shape[0], nw, nh]
                               for c, nw, nh in cases], "boxes": boxes,
                     "hm": hm.ravel().tolist()})
    expr = f"""Promise.all([import('/imageops.js'), import('/region.js')]).then(([m, r]) => {{
      const d = {js};
      const img = (c) => ({{data: Uint8Array.from(c[0]), width: c[1], height: c[2], channels: 3}});
      const windows = d.boxes.map((b) => r.cropWindow([b[0], b[1]], b[2]));
      const crops = windows.map((w) => m.windowCrop(img(d.cases[0]), w, 128, 128, 7));
      const hm = Float32Array.from(d.hm);
      return JSON.stringify({{
        resized: d.cases.map((c) => Array.from(m.resizeLinear(img(c), c[3], c[4]))),
        boxed: d.cases.map((c) => Array.from(m.letterbox(img(c), 128, 128, 7).image)),
        windows, A: crops.map((c) => c.A), crops: crops.map((c) => Array.from(c.image)),
        warped: crops.slice(1).map((c, i) => Array.from(
          m.warpHeatmaps(hm, 32, 32, 13, crops[i].A, c.A, 4)))}});
    }})"""
    srv = web.start_server(ASSETS, "127.0.0.1", 0, web.CheckSession())
    browser = web.Chromium(web.CHROMIUM)
    try:
        browser.open_page(f"http://127.0.0.1:{srv.server_address[1]}/index.html")
        r = browser.send("Runtime.evaluate", {"expression": expr, "awaitPromise": True,
                                              "returnByValue": True})
    finally:
        browser.close()
        srv.shutdown()
        srv.server_close()
    out = json.loads(r["result"]["value"])
    for (img, nw, nh), got, boxed in zip(cases, out["resized"], out["boxed"]):
        want = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        assert np.array_equal(np.array(got, np.uint8).reshape(want.shape), want), (nw, nh)
        h, w = img.shape[:2]  # the manifest's letterbox rule, pad value 7
        sc = min(128 / w, 128 / h)
        bw, bh = int(np.floor(w * sc + 0.5)), int(np.floor(h * sc + 0.5))
        ref = np.full((128, 128, 3), 7, np.uint8)
        ref[(128 - bh) // 2:(128 - bh) // 2 + bh, (128 - bw) // 2:(128 - bw) // 2 + bw] = \
            cv2.resize(img, (bw, bh), interpolation=cv2.INTER_LINEAR)
        assert np.array_equal(np.array(boxed, np.uint8).reshape(ref.shape), ref), (nw, nh)
    As = []
    for i, box in enumerate(boxes):
        win = crop_window(box[:2], box[2])
        assert list(win) == out["windows"][i], (box, win, out["windows"][i])
        img, A = window_crop(frame, win, 128, 128, pad_value=7)
        assert np.array_equal(np.array(out["crops"][i], np.uint8).reshape(img.shape), img), win
        assert np.array_equal(np.array(out["A"][i]), A), (win, A, out["A"][i])
        As.append(A)
    for i, got in enumerate(out["warped"]):
        want = warp_heatmaps(hm, As[i], As[i + 1], 4.0)
        assert np.array_equal(np.array(got, np.float32).reshape(want.shape), want), i


@pytest.mark.slow
def test_page_shows_errors_visibly(tmp_path):
    """A manifest of another format served to the page: a visible message, never a blank
    canvas, and the same error reported to the check session."""
    _need_browser()
    bad = tmp_path / "assets"
    bad.mkdir()
    (bad / "manifest.json").write_text(json.dumps({"format": "other/2"}))
    session = web.CheckSession()
    srv = web.start_server(str(bad), "127.0.0.1", 0, session)
    from dkd_tf.infer import build_parser

    opts = web.page_options(build_parser().parse_args([]), "wasm", source="check", report=1)
    browser = web.Chromium(web.CHROMIUM)
    try:
        browser.open_page(web.page_url("127.0.0.1", srv.server_address[1], opts))
        assert session.done.wait(60)
        shown = browser.send("Runtime.evaluate", {"returnByValue": True, "expression":
                             "[getComputedStyle(document.getElementById('error')).display,"
                             " document.getElementById('error').innerText]"})["result"]["value"]
    finally:
        browser.close()
        srv.shutdown()
        srv.server_close()
    assert "manifest format" in session.error and "other/2" in session.error
    assert shown[0] == "block" and "manifest format" in shown[1]


@pytest.mark.parametrize("case", ["no_chromium", "no_manifest", "wrong_format", "bad_video"])
def test_check_bad_input_is_one_line(clips, tmp_path, capsys, case):
    video, assets, extra = clips["short"], ASSETS, []
    if case == "no_chromium":
        extra = ["--chromium", str(tmp_path / "no-chromium")]
    elif case == "no_manifest":
        assets = str(tmp_path)
    elif case == "wrong_format":
        (tmp_path / "manifest.json").write_text(json.dumps({"format": "dkd-tf/0"}))
        assets = str(tmp_path)
    else:
        video = str(tmp_path / "bad.mp4")
        with open(video, "w") as f:
            f.write("not a video")
    out = tmp_path / "out.json"
    rc = run_cli(web.main, ["--check", video, "--assets", assets, "--json", str(out), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    want = {"no_chromium": "no Chromium found", "no_manifest": "no such manifest",
            "wrong_format": "manifest format 'dkd-tf/0'", "bad_video": "not a readable video"}
    assert want[case] in err[0] and err[0].startswith("error: ")
    assert not out.exists()
