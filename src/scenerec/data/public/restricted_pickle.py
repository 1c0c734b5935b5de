"""Read pickles that may only hold builtin data, without ever running code from them.

One public data set (the LLMCDSR Food-Kitchen release) ships its item maps as pickles. A pickle
is a program: the ``GLOBAL``/``STACK_GLOBAL`` opcodes import any callable (``os.system``) and
``REDUCE``/``BUILD``/``NEWOBJ`` call it. We therefore read pickles in two guarded steps:

1. scan every opcode with :mod:`pickletools` (which decodes but executes nothing) and refuse the
   file if it uses an opcode outside an allow-list of pure-data opcodes (scalars, strings, bytes,
   list, tuple, dict, set, frozenset, memo bookkeeping);
2. unpickle with an :class:`pickle.Unpickler` whose ``find_class`` and ``persistent_load``
   always refuse, so that even an opcode the scan missed cannot import anything.

Sets and byte strings written with pickle protocol 0-2 are encoded as calls (``builtins.set``,
``_codecs.encode``) and are refused too; protocol 4 and later encode them as data opcodes.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from pathlib import Path
from typing import Final, NoReturn

from scenerec.errors import SchemaError

# Opcodes that only build builtin values (or manage the memo and stack). Anything else imports
# or calls something and is refused.
_SAFE_OPCODES: Final = frozenset(
    {
        "PROTO",
        "FRAME",
        "STOP",
        "MARK",
        "POP",
        "POP_MARK",
        "DUP",
        "PUT",
        "BINPUT",
        "LONG_BINPUT",
        "GET",
        "BINGET",
        "LONG_BINGET",
        "MEMOIZE",
        "NONE",
        "NEWTRUE",
        "NEWFALSE",
        "INT",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG",
        "LONG1",
        "LONG4",
        "FLOAT",
        "BINFLOAT",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "SHORT_BINBYTES",
        "BINBYTES",
        "BINBYTES8",
        "BYTEARRAY8",
        "EMPTY_LIST",
        "APPEND",
        "APPENDS",
        "LIST",
        "EMPTY_TUPLE",
        "TUPLE",
        "TUPLE1",
        "TUPLE2",
        "TUPLE3",
        "EMPTY_DICT",
        "DICT",
        "SETITEM",
        "SETITEMS",
        "EMPTY_SET",
        "ADDITEMS",
        "FROZENSET",
    }
)

_FIX: Final = (
    "only pickles of builtin data (dict, list, tuple, set, str, bytes, int, float, bool, None) "
    "are read; re-export the data as JSON or Parquet, or check where the file came from"
)


class _BuiltinsOnlyUnpickler(pickle.Unpickler):
    """Second guard: refuses every import and persistent id, whatever the opcode scan said."""

    def __init__(self, data: bytes, source: str) -> None:
        super().__init__(io.BytesIO(data))
        self._source = source

    def find_class(self, module: str, name: str) -> NoReturn:
        raise SchemaError(
            f"pickle tries to import {module}.{name}, which could run code; refused",
            file=self._source,
            fix=_FIX,
        )

    def persistent_load(self, pid: object) -> NoReturn:
        raise SchemaError(
            "pickle refers to a persistent object id; refused", file=self._source, fix=_FIX
        )


def check_pickle_opcodes(data: bytes, *, source: str = "<bytes>") -> None:
    """Refuse a pickle that uses any opcode besides pure-data ones. Nothing is executed.

    Args:
        data: the raw pickle bytes.
        source: the file name used in error messages.

    Raises:
        SchemaError: the pickle imports or calls something (``GLOBAL``, ``STACK_GLOBAL``,
            ``REDUCE``, ``BUILD``, ``INST``, ``OBJ``, ``NEWOBJ``, ``EXT*``, ``PERSID``...) or is
            not a valid pickle. The message names the file, the opcode and its byte offset.
    """
    try:
        for opcode, arg, pos in pickletools.genops(data):
            if opcode.name not in _SAFE_OPCODES:
                what = f" {arg!r}" if arg is not None else ""
                raise SchemaError(
                    f"pickle uses opcode {opcode.name}{what} at byte {pos}, which can import or "
                    "call code; refused",
                    file=source,
                    fix=_FIX,
                )
    except SchemaError:
        raise
    except Exception as exc:  # genops raises ValueError and others on corrupt input
        raise SchemaError(
            f"not a readable pickle: {exc}", file=source, fix="check that the file is complete"
        ) from None


def loads_builtin_pickle(data: bytes, *, source: str = "<bytes>") -> object:
    """Unpickle bytes that may only contain builtin data.

    Args:
        data: the raw pickle bytes.
        source: the file name used in error messages.

    Returns:
        The unpickled value, made only of builtin types.

    Raises:
        SchemaError: the pickle would import or call anything, or is corrupt.
    """
    check_pickle_opcodes(data, source=source)
    try:
        return _BuiltinsOnlyUnpickler(data, source).load()
    except SchemaError:
        raise
    except Exception as exc:
        raise SchemaError(
            f"not a readable pickle: {exc}", file=source, fix="check that the file is complete"
        ) from None


def load_builtin_pickle(path: str | Path) -> object:
    """Read a pickle file that may only contain builtin data (see the module docstring).

    Raises:
        SchemaError: the file is missing, would import or call anything, or is corrupt.
    """
    p = Path(path)
    if not p.is_file():
        raise SchemaError("file not found", file=p, fix="check the path")
    return loads_builtin_pickle(p.read_bytes(), source=str(p))
