"""Transport for ``fetch``: download a URL, download one wheel with pip, verify checksums.

Nothing is installed, imported or run from what is downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Final

import scenerec
from scenerec.errors import SceneRecError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S: Final = 30.0
CHUNK: Final = 1 << 20
"""Bytes read or copied at a time."""


def file_checksum(path: Path, algorithm: str = "sha256") -> str:
    """``"<algorithm>:<hex digest>"`` of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return f"{algorithm}:{h.hexdigest()}"


def verify_checksum(path: Path, expected: str | None) -> None:
    """Raise SceneRecError when ``path`` does not match ``expected`` (``None`` passes)."""
    if expected is None:
        return
    algorithm, _, digest = expected.partition(":")
    if algorithm not in ("md5", "sha256") or not digest:
        raise SceneRecError(f"bad checksum spec {expected!r}: use md5:<hex> or sha256:<hex>")
    got = file_checksum(path, algorithm)
    if got != f"{algorithm}:{digest.lower()}":
        raise SceneRecError(
            f"{path}: checksum mismatch: expected {expected}, got {got}. Fix: the file is "
            "corrupt, truncated or a different version; download it again from the official "
            "source"
        )


def download(
    url: str, out: Path, *, progress: bool = True, timeout: float = DEFAULT_TIMEOUT_S
) -> Path:
    """Download ``url`` to ``out`` (atomically, via a ``.part`` file).

    Raises:
        SceneRecError: the host cannot be reached, answers with an error, or times out.
    """
    if not url.startswith(("https://", "http://", "file://")):
        raise SceneRecError(f"refusing to download {url!r}: only http(s) and file URLs")
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    req = urllib.request.Request(url, headers={"User-Agent": f"scenerec/{scenerec.__version__}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp, part.open("wb") as dst:
            total = int(resp.headers.get("Content-Length") or 0)
            done, next_report = 0, 0.1
            while chunk := resp.read(CHUNK):
                dst.write(chunk)
                done += len(chunk)
                if progress and total and done / total >= next_report:
                    logger.info("%s: %d%% of %.1f MB", url, 100 * done // total, total / 1e6)
                    next_report += 0.1
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise SceneRecError(
            f"cannot download {url}: {reason}. Fix: check the network, or download the file by "
            "hand and pass it with from_path (CLI: --from PATH)"
        ) from None
    os.replace(part, out)
    return out


def pip_download_wheel(requirement: str, folder: Path, *, timeout: float = 300.0) -> Path:
    """Download one wheel from the package index with pip; nothing is installed or run.

    ``--only-binary=:all:`` forbids source distributions, whose build would run their code.

    Raises:
        SceneRecError: pip failed (index unreachable, no such version) or timed out.
    """
    wheel_dir = folder / "wheel"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        requirement,
        "-d",
        str(wheel_dir),
    ]
    logger.info("fetching %s from the package index: %s", requirement, " ".join(cmd[2:]))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=max(timeout, 120.0))
    except subprocess.TimeoutExpired:
        raise SceneRecError(f"pip download {requirement} timed out") from None
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise SceneRecError(
            f"pip download {requirement} failed: {' | '.join(tail)}. Fix: check access to the "
            "package index (pip config), or fetch with from_path"
        )
    wheels = sorted(wheel_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise SceneRecError(f"pip download {requirement} gave {len(wheels)} wheels, expected 1")
    return wheels[0]
