"""What a handler factory receives when its worker starts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TypeVar

import attrs

from vpipe_core.config.core import CoreSettings
from vpipe_core.health_state import HealthState
from vpipe_core.spec import WorkerSpec

T = TypeVar("T")


@attrs.define
class WorkerContext:
    spec: WorkerSpec
    instance: int
    group: str
    settings: CoreSettings
    env: Mapping[str, str]  # the effective environment: process env over the .env file, expanded
    logger: logging.Logger
    health: HealthState = attrs.field(factory=HealthState)

    @property
    def worker_id(self) -> str:
        return f"{self.spec.name}-{self.instance}"

    @property
    def domain(self) -> str:
        return self.spec.domain

    def settings_for(self, settings_class: type[T]) -> T:
        """Load a domain's or plugin's settings class from the same environment."""
        from vpipe_core.config.loader import load_settings

        return load_settings(settings_class, self.env)
