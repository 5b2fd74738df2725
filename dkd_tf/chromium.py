"""Headless Chromium driven over its DevTools pipe (--remote-debugging-pipe: JSON messages
ending in NUL on file descriptors 3 and 4): the standard library only, no Node at run time.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
from typing import List, Optional, Sequence

from .errors import UserError

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
