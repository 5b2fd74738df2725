"""The browser page (web/, LiteRT.js): serve it, or check it in headless Chromium.

    python -m dkd_tf.web [--assets DIR] [--port 8000]
        serves web/, the assets folder (/assets/) and web/node_modules/@litertjs with the
        COOP/COEP headers threaded Wasm needs, and prints the page's URL (its query carries
        infer's default options: region, re-initialisation, smoothing).
    python -m dkd_tf.web --check VIDEO --assets DIR --json OUT [--backend wasm|webgpu]
        [--screenshot PNG]
        drives Debian's Chromium headless through the page on VIDEO: OpenCV decodes the
        frames here and the page fetches them in order, each exactly once (/check/frame/i);
        it POSTs each frame's keypoints back; OUT is the JSON `python -m dkd_tf.infer --json`
        writes (keypoints in frame pixels), with infer's default options
        (dkd_tf.infer.build_parser().parse_args([VIDEO])).

Chromium is driven over its DevTools pipe (dkd_tf.chromium), the page served by
dkd_tf.web_server: nothing beyond the standard library and the npm package @litertjs/core
(web/package-lock.json) is needed. WebGPU in headless Chromium is
SwiftShader, a software GPU (--enable-unsafe-webgpu --use-webgpu-adapter=swiftshader).
Imports neither TensorFlow nor the models.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
import urllib.parse
from typing import Optional, Sequence

from .chromium import CHROMIUM, WEBGPU_FLAGS, Chromium
from .errors import UserError, quiet_libraries, run_cli
from .web_server import LITERT_DIR, WEB_DIR, CheckSession, start_server

__all__ = ["CHROMIUM", "Chromium", "CheckSession", "LITERT_DIR", "WEB_DIR", "check_page",
           "main", "page_options", "page_url", "run_page", "start_server"]


def build_parser() -> argparse.ArgumentParser:
    from .infer import DEFAULT_ASSETS

    ap = argparse.ArgumentParser(prog="python -m dkd_tf.web", description=__doc__.split("\n")[0])
    ap.add_argument("--assets", default=DEFAULT_ASSETS,
                    help=f"folder with manifest.json and the .tflite graphs ({DEFAULT_ASSETS})")
    ap.add_argument("--port", type=int, default=8000, help="port to serve on (0 = any free)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--check", metavar="VIDEO", default=None,
                    help="run the page headless on VIDEO and write --json")
    ap.add_argument("--json", default=None, help="keypoints as JSON (with --check)")
    ap.add_argument("--backend", choices=("wasm", "webgpu"), default="wasm",
                    help="LiteRT.js accelerator (webgpu headless = SwiftShader, a software GPU)")
    ap.add_argument("--screenshot", default=None, help="PNG of the page after the last frame")
    ap.add_argument("--chromium", default=os.environ.get("DKD_CHROMIUM", CHROMIUM),
                    help=f"Chromium executable ({CHROMIUM})")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds the check may take in all")
    return ap


# ---- the options the page gets -----------------------------------------------------------
def page_options(infer_args, backend: str, fps: Optional[float] = None, **extra) -> dict:
    """The page's query from parsed infer arguments (so it follows infer's defaults)."""
    q = {"assets": "/assets/", "backend": backend, "precision": infer_args.precision,
         "roi": infer_args.roi, "reinit_every": infer_args.reinit_every,
         "reinit_score": "none" if infer_args.reinit_score is None else infer_args.reinit_score,
         "smooth": infer_args.smooth, "min_cutoff": infer_args.min_cutoff,
         "beta": infer_args.beta, "d_cutoff": infer_args.d_cutoff}
    if infer_args.threads:
        q["threads"] = infer_args.threads
    if fps is not None:
        q["fps"] = repr(float(fps))
    q.update(extra)
    return q


def page_url(host: str, port: int, options: dict) -> str:
    return f"http://{host}:{port}/index.html?" + urllib.parse.urlencode(options)


# ---- checks before anything starts -------------------------------------------------------
def check_assets(assets: str, precision: str) -> dict:
    """The manifest (dkd_tf.runtime.load_manifest's checks) and the graph files it names."""
    from .runtime import load_manifest

    if not os.path.isdir(assets):
        raise UserError(f"{assets}: no such assets folder")
    m = load_manifest(assets)
    if precision not in m["models"]:
        raise UserError(f"{m['_path']}: no {precision!r} models (has {', '.join(m['models'])})")
    for g, spec in m["models"][precision].items():
        path = os.path.join(m["_dir"], spec["file"])
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            raise UserError(f"{path}: missing or empty (named by {m['_path']})")
    return m


def check_page_files() -> None:
    core = os.path.join(LITERT_DIR, "core", "dist", "index.js")
    if not os.path.isfile(os.path.join(WEB_DIR, "index.html")):
        raise UserError(f"{WEB_DIR}: no index.html (the page is missing from this checkout)")
    if not os.path.isfile(core):
        raise UserError(f"{core}: missing; install LiteRT.js with `npm ci` in {WEB_DIR}")


def find_chromium(path: str) -> str:
    exe = path if os.sep in path else shutil.which(path)
    if not exe or not os.path.isfile(exe) or not os.access(exe, os.X_OK):
        raise UserError(f"{path}: no Chromium found (apt-get install chromium, or --chromium)")
    return exe


def run_page(chromium: str, url: str, session: CheckSession, timeout: float,
             extra_flags: Sequence[str] = (), screenshot: Optional[str] = None,
             what: str = "the page") -> Chromium:
    """Opens url in headless Chromium and waits until the page says done (or fails)."""
    browser = Chromium(chromium, extra_flags)
    try:
        browser.open_page(url)
        deadline = time.monotonic() + timeout
        while not session.done.wait(0.2):
            if browser.proc.poll() is not None or browser.closed.is_set():
                session.fail("chromium exited before the page finished")
            elif time.monotonic() > deadline:
                session.fail(f"the page did not finish within {timeout:.0f} s "
                             f"({session.results} frames done)")
        if screenshot:
            browser.screenshot(screenshot)
        if session.error is not None:
            detail = f"; {browser.console[0]}" if browser.console else ""
            raise UserError(f"{what}: {session.error}{detail}")
        return browser
    finally:
        browser.close()


# ---- the CLI -------------------------------------------------------------------------------
def check_page(video: str, assets: str, json_out: str, backend: str = "wasm",
               infer_argv: Sequence[str] = (), screenshot: Optional[str] = None,
               chromium: str = CHROMIUM, timeout: float = 600.0) -> dict:
    """The page on a video, every frame in order, with infer's options (its defaults, or
    infer_argv on top); writes infer's JSON to json_out (plus footer keys "ms_per_frame",
    "ms_median", "graph_ms", "reanchors"). -> {"frames", those four, "json", "screenshot"}; UserError on bad input or a page failure."""
    import statistics

    from .infer import build_parser as infer_parser
    from .video_io import JsonStreamWriter, VideoSource, check_output_path, check_video_file

    out = check_output_path(json_out, ".json")
    shot = check_output_path(screenshot, ".png") if screenshot else None
    check_video_file(video)
    ia = infer_parser().parse_args([video, *infer_argv])  # infer's defaults, whatever they become
    m = check_assets(assets, ia.precision)
    quiet_libraries()
    source = VideoSource(video)  # UserError when no frame decodes
    try:
        exe = find_chromium(chromium)
        check_page_files()
    except UserError:
        source.release()
        raise
    writer = JsonStreamWriter(out, {
        "video": video, "fps": source.fps, "width": source.size[0], "height": source.size[1],
        "joints": list(m["joints"]), "precision": ia.precision, "roi": ia.roi,
        "reinit_every": ia.reinit_every, "reinit_score": ia.reinit_score, "smooth": ia.smooth,
        "backend": backend})
    session = CheckSession(source, writer.write, source.fps)
    srv = start_server(assets, "127.0.0.1", 0, session)
    url = page_url("127.0.0.1", srv.server_address[1],
                   page_options(ia, backend, source.fps, source="check", report=1))
    try:
        run_page(exe, url, session, timeout, WEBGPU_FLAGS if backend == "webgpu" else (),
                 shot, what=video)
        if source.problem is not None:
            raise UserError(f"{video}: {source.problem}")
        if session.results != session.next_frame or session.results == 0:
            raise UserError(f"{video}: the page returned {session.results} results for "
                            f"{session.next_frame} frames")
    except BaseException:
        writer.discard()
        raise
    finally:
        srv.shutdown()
        srv.server_close()
        source.release()
    summary = {"ms_per_frame": round(sum(session.ms) / max(len(session.ms), 1), 2),
               "ms_median": round(statistics.median(session.ms), 2) if session.ms else None,
               "graph_ms": {k: round(v, 2) for k, v in session.summary.get("graph_ms", {}).items()},
               "reanchors": session.summary.get("reanchors")}
    frames = writer.frames
    writer.close({"frames_written": frames, "complete": True, **summary})
    return {"frames": frames, **summary, "json": out, "screenshot": shot}


def check(a) -> int:
    """--check: the page on a video with infer's default options."""
    if a.json is None:
        raise UserError("--check needs --json OUT")
    r = check_page(a.check, a.assets, a.json, a.backend, (), a.screenshot, a.chromium, a.timeout)
    kind = "SwiftShader, a software GPU" if a.backend == "webgpu" else "Wasm, CPU"
    print(f"{r['frames']} frames on {a.backend} ({kind}): {r['ms_per_frame']:.1f} ms per frame "
          f"in the page (median {r['ms_median']:.1f})")
    for p in (r["json"], r["screenshot"]):
        if p:
            print(f"wrote {p}")
    return 0


def serve(a) -> int:
    from .infer import build_parser as infer_parser

    ia = infer_parser().parse_args([])
    check_assets(a.assets, ia.precision)
    check_page_files()
    srv = start_server(a.assets, a.host, a.port)
    port = srv.server_address[1]
    print(page_url("localhost" if a.host in ("127.0.0.1", "0.0.0.0") else a.host, port,
                   page_options(ia, "webgpu")))
    print(f"(wasm: the same URL with backend=wasm; serving {os.path.abspath(a.assets)}; "
          f"Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.shutdown()
        srv.server_close()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = build_parser().parse_args(argv)
    if a.check is not None:
        return check(a)
    if a.json or a.screenshot:
        raise UserError("--json and --screenshot need --check VIDEO")
    return serve(a)


if __name__ == "__main__":
    sys.exit(run_cli(main))
