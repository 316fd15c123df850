"""The plain data a plugin sees and returns: `PluginInfo`, `Conditions`, `EnrichmentContext`,
`PluginResult`. This module is the plugin extension point; keep it import-light and explicit."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import attrs
import orjson

from vpipe_core.outcome import Output
from vpipe_core.plugins.conditions import Conditions

MATCH_ALL = "*"

_PLUGIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_MISSING = object()


# --------------------------------------------------------------------------- plugin info


def _as_names(value: str | Iterable[str]) -> tuple[str, ...]:
    """Accept one name or several; ``"acme"`` becomes ``("acme",)``, never ``("x", "a", ...)``."""
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _as_conditions(value: Conditions | Mapping[str, Any] | None) -> Conditions | None:
    if value is None or isinstance(value, Conditions):
        return value
    return Conditions.from_dict(value)


def _check_plugin_name(_: Any, attribute: attrs.Attribute, value: str) -> None:
    if not isinstance(value, str) or not _PLUGIN_NAME.match(value):
        raise ValueError(
            f"plugin {attribute.name} {value!r} must be lower-case letters, digits, '_' or '-'"
        )


def _check_config_class(_: Any, attribute: attrs.Attribute, value: type | None) -> None:
    if value is not None and not isinstance(value, type):
        raise ValueError(f"{attribute.name} must be a class (attrs), got {value!r}")


def matches_name(accepted: tuple[str, ...], value: str) -> bool:
    """``"*"`` or an empty tuple accepts every value."""
    return not accepted or MATCH_ALL in accepted or value in accepted


@attrs.frozen
class PluginInfo:
    """What a plugin returns from ``vpipe_plugin_info``: who it is and when it runs.

    Attributes:
        name: the plugin's name; must equal its entry-point name. Names its config file
            (``<VPIPE_PLUGIN_CONFIG_DIR>/<name>.toml``), its log lines and its metrics.
        version: shown by ``vpipe plugins list|doctor``.
        domains: domains it runs in (e.g. ``"acme"``); ``"*"`` or empty means all.
        stages: stages it runs at; ``"*"`` or empty means all.
        event_types: event types it handles (as the domain names them); ``"*"`` or empty: all.
        priority: lower runs first; ties run in name order. The config file may override it.
        config_class: an attrs class the ``[config]`` table is structured into (unknown keys are
            an error); every field needs a default when the plugin should run without a file.
            ``None``: the plugin takes no config.
        required_env: environment variables that must be set (non-empty) for the plugin to load.
        conditions: an optional pre-filter on context fields (a `Conditions` or its dict form).
    """

    name: str = attrs.field(validator=_check_plugin_name)
    version: str = attrs.field(validator=attrs.validators.instance_of(str))
    domains: tuple[str, ...] = attrs.field(default=(MATCH_ALL,), converter=_as_names)
    stages: tuple[str, ...] = attrs.field(default=("enrichment_complete",), converter=_as_names)
    event_types: tuple[str, ...] = attrs.field(default=(MATCH_ALL,), converter=_as_names)
    priority: int = attrs.field(default=100, validator=attrs.validators.instance_of(int))
    config_class: type | None = attrs.field(default=None, validator=_check_config_class)
    required_env: tuple[str, ...] = attrs.field(default=(), converter=_as_names)
    conditions: Conditions | None = attrs.field(default=None, converter=_as_conditions)

    def applies_to(self, ctx: EnrichmentContext) -> bool:
        """Domain, stage, event type and conditions all accept this event."""
        return (
            matches_name(self.domains, ctx.domain)
            and matches_name(self.stages, ctx.stage)
            and matches_name(self.event_types, ctx.event_type)
            and (self.conditions is None or self.conditions.matches(ctx))
        )


# --------------------------------------------------------------------------- context


def freeze(value: Any) -> Any:
    """A read-only deep copy: mappings become `MappingProxyType`, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(item) for item in value)
    return value


def _freeze_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    frozen: Mapping[str, Any] = freeze(value)
    return frozen


def _read_only(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _check_aware(_: Any, attribute: attrs.Attribute, value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{attribute.name} must be timezone-aware (UTC), got {value!r}")


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _encode_payload(payload: Mapping[str, Any] | bytes) -> bytes:
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    if isinstance(payload, Mapping):
        return orjson.dumps(payload, default=_json_default)
    raise TypeError(f"publish payload must be a mapping or bytes, got {type(payload).__name__}")


def _step(value: Any, key: str) -> Any:
    """One step of a dotted path: a mapping key, a sequence index, or a public attribute."""
    if isinstance(value, Mapping):
        return value.get(key, _MISSING)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        try:
            return value[int(key)]
        except (ValueError, IndexError):
            return _MISSING
    if key.startswith("_"):
        return _MISSING
    return getattr(value, key, _MISSING)


@attrs.define
class EnrichmentContext:
    """Everything a plugin's ``vpipe_enrich`` sees about one event at one stage.

    The runner gives each plugin its own copy: ``config`` is that plugin's config, and its
    ``publish`` calls and ``headers`` changes count only if it returns in time without raising.

    Attributes:
        domain: the domain's name, e.g. ``"acme"``.
        stage: e.g. ``"enrichment_complete"``.
        event_id: the event's id; the default key of published records.
        event_type: what `PluginInfo.event_types` is compared with (the domain's event type).
        task: the task payload, a read-only deep copy.
        data: the raw event data, a read-only deep copy.
        headers: mutable; what is left here is copied onto the event's downstream records.
        attempt: the delivery attempt (``vpipe_attempt``), 0 on first delivery.
        now: the UTC time of the call.
        extras: domain-specific fields, e.g. ``project_id``, ``task_id``, ``task_status``,
            ``task_name``, ``assignment_id``, ``trace_id``, ``entities``, ``project``, ``api``.
        config: the plugin's validated config object (an instance of its ``config_class``).
    """

    domain: str
    stage: str
    event_id: str
    event_type: str
    task: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze_mapping)
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze_mapping)
    headers: dict[str, str] = attrs.field(factory=dict)
    attempt: int = 0
    now: datetime = attrs.field(factory=_utc_now, validator=_check_aware)
    extras: Mapping[str, Any] = attrs.field(factory=dict, converter=_read_only)
    config: Any = None
    _published: list[Output] = attrs.field(factory=list, init=False, repr=False)

    @property
    def published(self) -> tuple[Output, ...]:
        """Records recorded by `publish`, in call order."""
        return tuple(self._published)

    def get(self, path: str, default: Any = None) -> Any:
        """Read a dotted path: ``"task.attachments.0"``, ``"extras.project.name"``.

        The first part is a context attribute or, failing that, a key of ``extras`` (so
        ``"project_id"`` and ``"extras.project_id"`` are the same). Digits index sequences.
        Anything missing gives ``default``.
        """
        first, *rest = path.split(".")
        value = self._root(first)
        for key in rest:
            if value is _MISSING:
                break
            value = _step(value, key)
        return default if value is _MISSING or value is None else value

    def publish(
        self,
        topic: str,
        payload: Mapping[str, Any] | bytes,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Output:
        """Record a record to produce with the event's outputs (acknowledged before the commit).

        A mapping payload is encoded as JSON; bytes are sent as they are. ``key`` defaults to
        the event id.
        """
        if not topic:
            raise ValueError("publish needs a topic")
        output = Output(
            topic=topic,
            value=_encode_payload(payload),
            key=(key if key is not None else self.event_id).encode(),
            headers=[(name, value.encode()) for name, value in (headers or {}).items()],
        )
        self._published.append(output)
        return output

    def template_fields(self) -> dict[str, Any]:
        """The fields a `PluginResult.log` template may use: the scalars of the context and of
        ``extras`` (``{event_id}``, ``{task_id}``, ``{assignment_id}``, ``{task_status}``...)."""
        fields = {key: value for key, value in self.extras.items() if _is_scalar(value)}
        fields.update(
            domain=self.domain,
            stage=self.stage,
            event_id=self.event_id,
            event_type=self.event_type,
            attempt=self.attempt,
            now=self.now.isoformat(),
        )
        return fields

    def for_plugin(self, config: Any, headers: Mapping[str, str]) -> EnrichmentContext:
        """A copy for one plugin call: its config, its own headers and publish buffer."""
        clone = copy.copy(self)
        clone.config = config
        clone.headers = dict(headers)
        clone._published = []
        return clone

    def _root(self, name: str) -> Any:
        if name in _CONTEXT_ATTRIBUTES:
            return getattr(self, name)
        return self.extras.get(name, _MISSING)


_CONTEXT_ATTRIBUTES = frozenset(
    field.name for field in attrs.fields(EnrichmentContext) if not field.name.startswith("_")
)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, datetime))


# --------------------------------------------------------------------------- result


def _header_map(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


def _check_headers(_: Any, attribute: attrs.Attribute, value: Mapping[str, str]) -> None:
    for name, text in value.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise TypeError(f"{attribute.name} must map str to str, got {name!r}: {text!r}")


def _as_outputs(value: Iterable[Output]) -> tuple[Output, ...]:
    outputs = tuple(value)
    for output in outputs:
        if not isinstance(output, Output):
            raise TypeError(f"outputs must be Output records, got {type(output).__name__}")
    return outputs


@attrs.frozen
class PluginResult:
    """What ``vpipe_enrich`` returns (``None`` means the same as `PluginResult.ok()`).

    Attributes:
        filter_reason: set to stop the event here: no downstream tasks are produced for it
            (the event's own row is unaffected). Other plugins still run.
        headers: headers to add to the event's downstream records.
        outputs: extra records to produce with the event's outputs.
        log: a message logged (INFO, logger ``vpipe.plugins``) after the call. It is a
            ``str.format`` template over `EnrichmentContext.template_fields`; unknown fields stay
            as ``{name}``.
    """

    filter_reason: str | None = None
    headers: Mapping[str, str] = attrs.field(
        factory=dict, converter=_header_map, validator=_check_headers
    )
    outputs: Sequence[Output] = attrs.field(default=(), converter=_as_outputs)
    log: str | None = None

    @classmethod
    def ok(
        cls,
        *,
        headers: Mapping[str, str] | None = None,
        outputs: Sequence[Output] = (),
        log: str | None = None,
    ) -> PluginResult:
        """Carry on, optionally adding headers, records or a log line."""
        return cls(headers=headers or {}, outputs=outputs, log=log)

    @classmethod
    def filter(cls, reason: str, *, log: str | None = None) -> PluginResult:
        """Stop the event: no downstream tasks for it, for `reason`."""
        if not reason:
            raise ValueError("a filter needs a reason")
        return cls(filter_reason=reason, log=log)

    @property
    def filtered(self) -> bool:
        return self.filter_reason is not None
