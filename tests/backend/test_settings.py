"""The services' settings come from the application's traits: each setting is defined once
(``TrevorBackend``'s trait: default, help, validation) and ``Settings`` only names and types it."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from traitlets.config import Config

from trevor_backend.app import TrevorBackend
from trevor_backend.services.context import Settings


def test_every_setting_is_a_configurable_trait() -> None:
    traits = TrevorBackend.class_traits(config=True)
    missing = [f.name for f in fields(Settings) if f.name not in traits]
    assert missing == []


def test_settings_take_the_trait_defaults_and_the_configuration(tmp_path: Path) -> None:
    defaults = TrevorBackend(data_dir=str(tmp_path), secret_key="k").settings()
    assert defaults.required_reviews == TrevorBackend.class_traits()["required_reviews"].default()
    assert defaults.outbox_backoff == 30.0

    config = Config()
    config.TrevorBackend.required_reviews = 3
    config.TrevorBackend.events_heartbeat = 2.5
    config.TrevorBackend.public_url = "https://airlock.example.org/"
    config.TrevorBackend.secret_key = "s3cret"
    config.TrevorBackend.sdc_params = {"threshold": 12}
    app = TrevorBackend(config=config, data_dir=str(tmp_path))
    settings = app.settings()
    assert settings.required_reviews == 3
    assert settings.events_heartbeat == 2.5
    assert settings.public_url == "https://airlock.example.org"
    assert settings.secret_key == b"s3cret"
    assert settings.sdc_params == {"threshold": 12}
    # A copy: changing the application's dict later does not reach running services.
    app.sdc_params["threshold"] = 99
    assert settings.sdc_params == {"threshold": 12}


def test_a_setting_is_validated_where_it_is_defined(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="release_max_attempts must be at least 1"):
        TrevorBackend(data_dir=str(tmp_path), release_max_attempts=0)
