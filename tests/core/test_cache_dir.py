"""`CACHE_DIR` at startup: refused under a private /tmp under systemd, and when not writable."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vpipe_core.config.loader import ConfigError
from vpipe_core.transfer.cache_dir import cache_dir_problems, check_cache_dir


@pytest.mark.parametrize("cache", ["/tmp/vpipe-never-created/cache", "/var/tmp/vpipe-x/cache"])
def test_a_cache_under_tmp_is_refused_for_a_deployment(cache: str) -> None:
    (problem,) = cache_dir_problems({"CACHE_DIR": cache}, deployment=True)
    assert f"CACHE_DIR={cache}" in problem and "PrivateTmp" in problem
    assert cache_dir_problems({"CACHE_DIR": cache}, deployment=False) == []


def test_outside_systemd_a_tmp_cache_is_created_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="vpipe.transfer.cache"):
        check_cache_dir(tmp_path / "a" / "cache")
    assert (tmp_path / "a" / "cache").is_dir()
    assert "refused under systemd" in caplog.text
    assert list((tmp_path / "a" / "cache").iterdir()) == [], "the write check leaves nothing"


def test_a_cache_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the cache should go")
    with pytest.raises(ConfigError) as failure:
        check_cache_dir(tmp_path / "taken" / "cache")
    assert "not writable" in str(failure.value) and "write access" in str(failure.value)
