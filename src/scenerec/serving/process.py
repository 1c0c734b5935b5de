"""``ServiceProcess``: ``scenerec serve`` in a child process, for tests and benchmarks that need
the real server (its own process, killable with SIGKILL) rather than an in-process app."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from scenerec.errors import SceneRecError


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """One ``scenerec serve`` child process.

    Args:
        run_dir: the run to serve.
        api_key: the key (passed as ``SCENEREC_API_KEY``).
        store: ``--store`` URL (default: the run's SQLite file).
        port: the port (default: a free one).
        extra: more command-line arguments (``--consume ...``, ``--config ...``).
        log: file that receives the server's stdout and stderr (appended).
    """

    def __init__(
        self,
        run_dir: Path,
        api_key: str,
        *,
        store: str | None = None,
        port: int | None = None,
        extra: list[str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "scenerec.cli.main", "serve", str(run_dir)]
        cmd += ["--port", str(self.port), *(["--store", store] if store else []), *(extra or [])]
        env = {**os.environ, "SCENEREC_API_KEY": api_key}
        self._log: IO[bytes] | None = log.open("ab") if log else None
        out = self._log if self._log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Block until ``/readyz`` answers 200; returns the seconds it took.

        Raises:
            SceneRecError: the process exited, or it was not ready in time.
        """
        t0 = time.perf_counter()
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() - t0 < timeout:
                if self.proc.poll() is not None:
                    raise SceneRecError(f"scenerec serve exited with {self.proc.returncode}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return time.perf_counter() - t0
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.kill()
        raise SceneRecError(f"scenerec serve was not ready after {timeout:.0f} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL: no chance to clean up) and reap the process."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM)."""
        self.kill(signal.SIGTERM)


__all__ = ["ServiceProcess", "free_port"]
