"""A dependency-free terminal progress bar for labapp-batch (silent when not on a terminal)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, stream=None, width: int = 30):
        self.total, self.width = total, width
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.monotonic()
        self._last = 0.0

    def update(self, done: int, failed: int = 0) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and done < self.total):
            return
        self._last = now
        frac = done / self.total if self.total else 1.0
        bar = "#" * int(frac * self.width) + "-" * (self.width - int(frac * self.width))
        rate = done / (now - self.t0) if now > self.t0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        msg = f"\r[{bar}] {done}/{self.total}  {rate:5.1f} img/s  ETA {eta:4.0f}s"
        if failed:
            msg += f"  {failed} failed"
        self.stream.write(msg)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
