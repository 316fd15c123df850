"""`CACHE_DIR` at startup: refused under a private /tmp under systemd, and when not writable."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vpipe_core.config.loader import ConfigError
from vpipe_core.transfer.cache_dir import check_cache_dir

UNDER_SYSTEMD = {"INVOCATION_ID": "0f3c2b1a"}


def test_a_cache_under_tmp_is_refused_under_systemd() -> None:
    cache = Path("/tmp/vpipe-never-created/cache")
    with pytest.raises(ConfigError) as failure:
        check_cache_dir(cache, UNDER_SYSTEMD)
    assert "CACHE_DIR=" in str(failure.value) and "PrivateTmp" in str(failure.value)
    assert not cache.parent.exists(), "refused before anything is created"


def test_var_tmp_is_private_too() -> None:
    with pytest.raises(ConfigError):
        check_cache_dir(Path("/var/tmp/vpipe-never-created"), UNDER_SYSTEMD)


def test_outside_systemd_a_tmp_cache_is_created_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="vpipe.transfer.cache"):
        check_cache_dir(tmp_path / "a" / "cache", {})
    assert (tmp_path / "a" / "cache").is_dir()
    assert "refused under systemd" in caplog.text
    assert list((tmp_path / "a" / "cache").iterdir()) == [], "the write check leaves nothing"


def test_a_cache_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the cache should go")
    with pytest.raises(ConfigError) as failure:
        check_cache_dir(tmp_path / "taken" / "cache", {})
    assert "not writable" in str(failure.value) and "write access" in str(failure.value)
