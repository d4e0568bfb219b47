"""The master key and unmasked reads are configuration: production refuses the development
master key, and forbids unmasked reads unless the operator allows them."""

from __future__ import annotations

import pytest

from service.settings import (
    DEVELOPMENT_MASTER_KEY,
    ConfigurationError,
    Settings,
    load_settings,
)

REAL = {"SSCARD_HOLDER_ID_KEY": "a-real-holder-id-key-0001"}


def test_production_refuses_the_development_master_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SSCARD_ENV", "production")
    monkeypatch.setenv("SSCARD_HOLDER_ID_KEY", REAL["SSCARD_HOLDER_ID_KEY"])
    monkeypatch.delenv("SSCARD_MASTER_KEY", raising=False)
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert refused.value.variable == "SSCARD_MASTER_KEY"
    monkeypatch.setenv("SSCARD_MASTER_KEY", "short")
    with pytest.raises(ConfigurationError, match="at least 32"):
        load_settings()
    monkeypatch.setenv("SSCARD_MASTER_KEY", "a-real-master-key-of-enough-length-0001")
    assert load_settings().master_key.get_secret_value() != DEVELOPMENT_MASTER_KEY


def test_unmasked_reads_are_forbidden_in_production_unless_allowed():
    keys = {"holder_id_key": "a-real-holder-id-key-0001", "master_key": "m" * 40}
    assert Settings(env="development", **keys).unmasked_reads_allowed
    assert not Settings(env="production", **keys).unmasked_reads_allowed
    assert Settings(env="production", allow_unmasked=True, **keys).unmasked_reads_allowed
    assert not Settings(env="test", allow_unmasked=False, **keys).unmasked_reads_allowed
