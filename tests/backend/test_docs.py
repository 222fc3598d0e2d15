"""docs/operators.md names every option an operator can set on TrevorBackend."""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Application

from trevor_backend.app import TrevorBackend

DOC = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def test_every_backend_option_is_documented() -> None:
    text = DOC.read_text()
    inherited = set(Application.class_traits(config=True))
    own = set(TrevorBackend.class_traits(config=True)) - inherited
    missing = sorted(name for name in own if f"`{name}`" not in text)
    assert missing == [], f"document these options in docs/operators.md: {missing}"
