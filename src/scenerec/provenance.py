"""Where a result or a run came from: library version, commit, date, machine, packages.

Recorded in ``results.json`` and in every run manifest, so a number can be traced to the code and
the machine that produced it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata as md
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Final

from scenerec import __version__

_PACKAGES: Final = ("numpy", "polars", "torch", "scipy", "transformers", "sentence-transformers")


def git_commit(where: Path | None = None) -> str | None:
    """``git describe --always --dirty`` of the source tree, or None outside a git checkout."""
    folder = where or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def package_versions() -> dict[str, str]:
    """scenerec, Python and the libraries that change numbers."""
    out = {"scenerec": __version__, "python": platform.python_version()}
    for pkg in _PACKAGES:
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def machine() -> dict[str, Any]:
    """The hardware and operating system (no host name)."""
    info: dict[str, Any] = {
        "system": platform.system(),
        "release": platform.release(),
        "arch": platform.machine(),
        "processor": platform.processor() or None,
        "cpus": os.cpu_count(),
    }
    with contextlib.suppress(ImportError):
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    return info


def provenance() -> dict[str, Any]:
    """Library version, commit, UTC date, machine and package versions, as plain data."""
    return {
        "scenerec": __version__,
        "commit": git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": package_versions(),
    }


__all__ = ["git_commit", "machine", "package_versions", "provenance"]
