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

Chromium is driven over its DevTools pipe (--remote-debugging-pipe: JSON messages ending
in NUL on file descriptors 3 and 4), so nothing beyond the standard library and the npm
package @litertjs/core (web/package-lock.json) is needed. WebGPU in headless Chromium is
SwiftShader, a software GPU (--enable-unsafe-webgpu --use-webgpu-adapter=swiftshader).
Imports neither TensorFlow nor the models.
"""
from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional, Sequence

from .errors import UserError, quiet_libraries, run_cli

WEB_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")
LITERT_DIR = os.path.join(WEB_DIR, "node_modules", "@litertjs")
CHROMIUM = "/usr/bin/chromium"
# The closed network refuses other connections: no background traffic, a fresh profile.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--disable-quic", "--disable-default-apps", "--mute-audio",
                  "--hide-scrollbars")
WEBGPU_FLAGS = ("--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader",
                "--enable-features=Vulkan")
# LiteRT.js logs INFO lines through console.error, one NPU registration error, and a
# warning on a page without a GPU (the Wasm backend needs none): noise.
CONSOLE_NOISE = ("INFO: ", "npu_registry.cc", "Failed to create default WebGPU device")


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


# ---- the server ----------------------------------------------------------------------------
class CheckSession:
    """Frames for the page in order, each exactly once, and the results it posts back.

    source: iterable of (index, BGR frame) (a VideoSource) or None (a camera: results only).
    on_result(record) gets {"index", "keypoints": [[x, y, score]] float32-rounded like infer,
    "initializer"}; done / error are set when the page says so.
    """

    def __init__(self, source=None, on_result=None, fps: float = 30.0):
        self._it = iter(source) if source is not None else None
        self.fps, self.on_result = fps, on_result
        self.next_frame, self.results, self.ms = 0, 0, []
        self.done = threading.Event()
        self.error: Optional[str] = None
        self.summary: dict = {}
        self.lock = threading.Lock()

    def frame(self, i: int):
        """-> (rgb bytes, width, height, timestamp) or None at the end; raises on a skip."""
        import cv2

        with self.lock:
            if self._it is None:
                raise ValueError("no video in this session")
            if i != self.next_frame:
                raise ValueError(f"frame {i} asked, frame {self.next_frame} is next")
            item = next(self._it, None)
            if item is None:
                return None
            idx, bgr = item
            self.next_frame += 1
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            return rgb.tobytes(), rgb.shape[1], rgb.shape[0], idx / self.fps

    def result(self, r: dict) -> None:
        import numpy as np

        with self.lock:
            if r.get("index") != self.results:
                raise ValueError(f"result {r.get('index')} posted, {self.results} expected")
            kp = np.asarray(r["keypoints"], np.float32)  # float32 as the runtime's Pose
            rec = {"index": self.results, "keypoints": [
                [round(float(x), 3), round(float(y), 3), round(float(s), 4)] for x, y, s in kp],
                "initializer": bool(r["initializer"])}
            self.results += 1
            self.ms.append(float(r.get("ms", 0.0)))
            if self.on_result is not None:
                self.on_result(rec)

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message
        self.done.set()


def make_handler(assets: str, session: Optional[CheckSession]):
    assets = os.path.abspath(assets)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the page's own stats say what happens
            pass

        def _headers(self, code: int, ctype: str, length: int, extra=()):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(length))
            # threaded Wasm needs SharedArrayBuffer: a cross-origin isolated page
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
            self.send_header("Cache-Control", "no-store")
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()

        def _send(self, code: int, body: bytes, ctype="text/plain; charset=utf-8", extra=()):
            self._headers(code, ctype, len(body), extra)
            self.wfile.write(body)

        def _file(self, root: str, rel: str):
            path = os.path.realpath(os.path.join(root, rel))
            if not path.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(path):
                return self._send(404, b"not found")
            ctype = {".js": "text/javascript", ".mjs": "text/javascript",
                     ".wasm": "application/wasm", ".json": "application/json",
                     ".tflite": "application/octet-stream", ".html": "text/html; charset=utf-8"
                     }.get(os.path.splitext(path)[1]) or mimetypes.guess_type(path)[0] \
                or "application/octet-stream"
            size = os.path.getsize(path)
            self._headers(200, ctype, size)
            with open(path, "rb") as f:
                shutil.copyfileobj(f, self.wfile)

        def do_GET(self):
            p = posixpath.normpath(urllib.parse.urlparse(self.path).path)
            if p in ("/", "/."):
                p = "/index.html"
            if p.startswith("/check/frame/") and session is not None:
                return self._frame(p)
            if p.startswith("/assets/"):
                return self._file(assets, p[len("/assets/"):])
            if p.startswith("/node_modules/@litertjs/"):
                return self._file(LITERT_DIR, p[len("/node_modules/@litertjs/"):])
            if p.count("/") == 1 and p.endswith((".html", ".js", ".css")):
                return self._file(WEB_DIR, p[1:])
            return self._send(404, b"not found")

        def _frame(self, p: str):
            try:
                got = session.frame(int(p.rsplit("/", 1)[1]))
            except ValueError as e:
                session.fail(f"the page broke the frame order ({e})")
                return self._send(409, str(e).encode())
            if got is None:
                return self._send(204, b"")
            data, w, h, t = got
            self._send(200, data, "application/octet-stream",
                       (("X-Width", str(w)), ("X-Height", str(h)), ("X-Timestamp", repr(t))))

        def do_POST(self):
            p = urllib.parse.urlparse(self.path).path
            n = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(n) or b"{}")
            except ValueError:
                return self._send(400, b"bad json")
            if session is None:
                return self._send(404, b"not a check session")
            try:
                if p == "/check/result":
                    session.result(body)
                elif p == "/check/done":
                    session.summary = body
                    session.done.set()
                elif p == "/check/error":
                    session.fail(str(body.get("message", "unknown error")))
                else:
                    return self._send(404, b"not found")
            except (ValueError, KeyError, TypeError) as e:
                session.fail(f"bad result from the page ({e})")
                return self._send(409, str(e).encode())
            self._send(200, b"ok")

    return Handler


def start_server(assets: str, host: str, port: int, session: Optional[CheckSession] = None):
    try:
        srv = ThreadingHTTPServer((host, port), make_handler(assets, session))
    except OSError as e:
        raise UserError(f"{host}:{port}: cannot serve here ({e.strerror})") from None
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


# ---- Chromium over the DevTools pipe -------------------------------------------------------
class Chromium:
    """Headless Chromium with --remote-debugging-pipe; send(method, params) -> result.

    Console messages and exceptions of the page are kept in `console` (LiteRT.js's
    noise left out)."""

    def __init__(self, exe: str, extra_flags: Sequence[str] = ()):
        self.profile = tempfile.mkdtemp(prefix="dkd-chromium-")
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def fds():  # Chromium reads commands on fd 3 and writes replies on fd 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        cmd = [exe, *CHROMIUM_FLAGS, *extra_flags, "--remote-debugging-pipe",
               f"--user-data-dir={self.profile}", "about:blank"]
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, preexec_fn=fds,
                                         close_fds=False)  # Python's own fds are CLOEXEC
        except OSError as e:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise UserError(f"{exe}: cannot start Chromium ({e.strerror})") from None
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._id, self._pending, self._lock = 0, {}, threading.Lock()
        self.console: List[str] = []
        self.session_id = None
        self.closed = threading.Event()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                self._dispatch(json.loads(msg))
        self.closed.set()
        with self._lock:
            for slot in self._pending.values():
                slot["event"].set()

    def _dispatch(self, msg: dict):
        if "id" in msg:
            with self._lock:
                slot = self._pending.get(msg["id"])
            if slot is not None:
                slot["msg"] = msg
                slot["event"].set()
            return
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            if not any(n in text for n in CONSOLE_NOISE):
                self.console.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.console.append("exception: " + d.get("exception", {}).get("description",
                                                                             d.get("text", "")))

    def send(self, method: str, params: Optional[dict] = None, session: bool = True,
             timeout: float = 60.0) -> dict:
        with self._lock:
            self._id += 1
            mid = self._id
            slot = {"event": threading.Event(), "msg": None}
            self._pending[mid] = slot
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session_id:
            msg["sessionId"] = self.session_id
        try:
            os.write(self._w, json.dumps(msg).encode() + b"\0")
        except OSError:
            raise UserError("chromium: exited unexpectedly") from None
        if not slot["event"].wait(timeout) or slot["msg"] is None:
            raise UserError(f"chromium: no answer to {method} within {timeout:.0f} s")
        with self._lock:
            del self._pending[mid]
        if "error" in slot["msg"]:
            raise UserError(f"chromium: {method} failed ({slot['msg']['error'].get('message')})")
        return slot["msg"].get("result", {})

    def open_page(self, url: str) -> None:
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next((t for t in targets if t["type"] == "page"), None)
        tid = page["targetId"] if page else self.send("Target.createTarget", {"url": "about:blank"},
                                                      session=False)["targetId"]
        self.session_id = self.send("Target.attachToTarget", {"targetId": tid, "flatten": True},
                                    session=False)["sessionId"]
        self.send("Runtime.enable")
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": 900, "height": 720,
                                                         "deviceScaleFactor": 1, "mobile": False})
        self.send("Browser.grantPermissions", {"permissions": ["videoCapture"]}, session=False)
        self.send("Page.navigate", {"url": url})

    def screenshot(self, path: str) -> None:
        from .io_utils import atomic_write_bytes

        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        atomic_write_bytes(path, base64.b64decode(data))

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", session=False, timeout=5)
                except UserError:
                    pass
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            for fd in (self._w, self._r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)


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
