"""The page's HTTP server: web/, the assets folder and LiteRT.js, with COOP/COEP headers,
and (python -m dkd_tf.web --check) the frames the page fetches and the results it posts.

    GET  /index.html, /*.js            web/ (top-level files only)
    GET  /assets/...                   the assets folder (manifest.json, .tflite graphs)
    GET  /node_modules/@litertjs/...   web/node_modules/@litertjs (npm ci in web/)
    GET  /check/frame/i                frame i as raw RGB (X-Width, X-Height, X-Timestamp);
                                       204 after the last; frames strictly in order
    POST /check/result, /check/done, /check/error   what the page reports (JSON)
"""
from __future__ import annotations

import json
import mimetypes
import os
import posixpath
import shutil
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

from .errors import UserError

WEB_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")
LITERT_DIR = os.path.join(WEB_DIR, "node_modules", "@litertjs")


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
