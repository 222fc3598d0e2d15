"""scripts/exchange_dirs.py, which puts a fresh labextension build in place in one step."""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "exchange_dirs.py"
spec = importlib.util.spec_from_file_location("exchange_dirs", SCRIPT)
assert spec is not None and spec.loader is not None
exchange_dirs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(exchange_dirs)


def _tree(root: Path, name: str) -> Path:
    root.mkdir()
    (root / "static").mkdir()
    (root / "static" / name).write_text(name)
    return root


def _names(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "static").iterdir())


def test_exchanges_the_new_build_with_the_current_one(tmp_path: Path) -> None:
    new = _tree(tmp_path / "new", "remoteEntry.new.js")
    current = _tree(tmp_path / "current", "remoteEntry.old.js")
    exchange_dirs.exchange(str(new), str(current))
    assert _names(current) == ["remoteEntry.new.js"]
    assert _names(new) == ["remoteEntry.old.js"]


class _NoRenameat2:
    """A C library without renameat2 (an old glibc), for the two-rename fallback."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass


@pytest.mark.parametrize("libc", [ctypes.CDLL, _NoRenameat2], ids=["renameat2", "fallback"])
def test_first_build_moves_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, libc: type
) -> None:
    monkeypatch.setattr(exchange_dirs.ctypes, "CDLL", libc)
    new = _tree(tmp_path / "new", "remoteEntry.new.js")
    current = tmp_path / "current"
    exchange_dirs.exchange(str(new), str(current))
    assert _names(current) == ["remoteEntry.new.js"]
    assert not new.exists()


def test_fallback_exchanges_with_two_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exchange_dirs.ctypes, "CDLL", _NoRenameat2)
    new = _tree(tmp_path / "new", "remoteEntry.new.js")
    current = _tree(tmp_path / "current", "remoteEntry.old.js")
    exchange_dirs.exchange(str(new), str(current))
    assert _names(current) == ["remoteEntry.new.js"]
    assert _names(new) == ["remoteEntry.old.js"]
    assert not (tmp_path / "new.parked").exists()
