"""docs/operators.md documents every option of the identity authenticators, in its
Authentication section, and the section's examples name real classes and options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from traitlets.config import LoggingConfigurable

from trevor_backend.auth.jupyterhub import JupyterHubAuthenticator
from trevor_backend.auth.oidc import OIDCAuthenticator

DOC = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def _section() -> str:
    text = DOC.read_text()
    start = text.index("\n## Authentication\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


@pytest.mark.parametrize("cls", [OIDCAuthenticator, JupyterHubAuthenticator])
def test_every_authenticator_option_is_documented(cls: type) -> None:
    section = _section()
    inherited = set(LoggingConfigurable.class_traits(config=True))
    own = set(cls.class_traits(config=True)) - inherited
    missing = sorted(name for name in own if f"`{name}`" not in section)
    assert missing == [], f"document these {cls.__name__} options in docs/operators.md: {missing}"


def test_config_examples_name_real_options() -> None:
    # Every c.Class.option in the section's Python examples exists on that class.
    classes = {
        "OIDCAuthenticator": OIDCAuthenticator,
        "JupyterHubAuthenticator": JupyterHubAuthenticator,
    }
    used = re.findall(r"c\.(OIDCAuthenticator|JupyterHubAuthenticator)\.(\w+)", _section())
    assert used
    for cls, option in used:
        assert option in classes[cls].class_traits(config=True), f"{cls}.{option}"
    for path in re.findall(r'"(trevor_backend\.auth\.[\w.]+)"', _section()):
        module, _, name = path.rpartition(".")
        assert hasattr(__import__(module, fromlist=[name]), name), path
