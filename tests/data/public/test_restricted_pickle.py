"""The builtins-only unpickler: plain data in, code never run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from scenerec.data.public import load_builtin_pickle, loads_builtin_pickle, restricted_pickle
from scenerec.errors import SchemaError
from tests.data.public.helpers import Evil


def test_builtin_pickle_round_trips_plain_data(tmp_path: Path) -> None:
    value = {"B00X": 0, "t": ("a", 1.5, None, True), "s": {1, 2}, "b": b"x", "l": [[1], {}]}
    f = tmp_path / "ok.pkl"
    f.write_bytes(pickle.dumps(value, protocol=4))
    assert load_builtin_pickle(f) == value


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_malicious_pickle_is_refused_without_running(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    f = tmp_path / "evil.pkl"
    f.write_bytes(pickle.dumps({"x": Evil(marker)}, protocol=protocol))
    with pytest.raises(SchemaError) as err:
        load_builtin_pickle(f)
    assert "evil.pkl" in str(err.value) and "GLOBAL" in str(err.value)
    assert not marker.exists()


def test_unpickler_refuses_imports_even_if_the_scan_is_bypassed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    monkeypatch.setattr(restricted_pickle, "check_pickle_opcodes", lambda data, source: None)
    with pytest.raises(SchemaError, match=r"import posix\.system|import os\.system"):
        loads_builtin_pickle(pickle.dumps(Evil(marker)), source="evil.pkl")
    assert not marker.exists()


def test_truncated_pickle_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="not a readable pickle"):
        loads_builtin_pickle(pickle.dumps({"a": 1})[:-3], source="cut.pkl")
