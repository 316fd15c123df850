"""What a setting's value must look like, by its annotation: the description shown in problems
and the parser that turns the environment's text into the typed value."""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

BOOL_WORDS: Mapping[str, bool] = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
}


@attrs.frozen
class ValueForm:
    """What a variable must look like: `description` for messages, `parse` raises ValueError."""

    description: str
    parse: Callable[[str], object]


def _number_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {_number_text(minimum)} to {_number_text(maximum)}"
    if minimum is not None:
        return f" of at least {_number_text(minimum)}"
    if maximum is not None:
        return f" of at most {_number_text(maximum)}"
    return ""


def _check_range(number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ValueError("below minimum")
    if maximum is not None and number > maximum:
        raise ValueError("above maximum")


def _integer_parser(minimum: float | None, maximum: float | None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        number = int(raw.strip())
        _check_range(number, minimum, maximum)
        return number

    return parse


def _float_parser(minimum: float | None, maximum: float | None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        number = float(raw.strip())
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        _check_range(number, minimum, maximum)
        return number

    return parse


def _parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word not in BOOL_WORDS:
        raise ValueError("not a boolean word")
    return BOOL_WORDS[word]


def _enum_parser(enum_class: type[enum.Enum]) -> Callable[[str], enum.Enum]:
    members = {str(member.value).lower(): member for member in enum_class}

    def parse(raw: str) -> enum.Enum:
        key = raw.strip().lower()
        if key not in members:
            raise ValueError("not a member")
        return members[key]

    return parse


def _parse_path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("empty path")
    return Path(raw.strip())


def _list_items(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _integer_list_parser(
    minimum: float | None, maximum: float | None
) -> Callable[[str], tuple[int, ...]]:
    parse_item = _integer_parser(minimum, maximum)
    return lambda raw: tuple(parse_item(item) for item in _list_items(raw))


def value_form(
    annotation: Any, minimum: float | None = None, maximum: float | None = None
) -> ValueForm:
    """The form of a (non-optional) setting annotation; TypeError for an unsupported one."""
    range_text = _range_text(minimum, maximum)
    if annotation is bool:
        return ValueForm("one of true, false, 1, 0, yes, no", _parse_bool)
    if annotation is int:
        return ValueForm(f"an integer{range_text}", _integer_parser(minimum, maximum))
    if annotation is float:
        return ValueForm(f"a number{range_text}", _float_parser(minimum, maximum))
    if annotation is str:
        return ValueForm("a string", str)
    if annotation is Path:
        return ValueForm("a path", _parse_path)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = ", ".join(str(member.value) for member in annotation)
        return ValueForm(f"one of {choices}", _enum_parser(annotation))
    if annotation == tuple[int, ...]:
        return ValueForm(
            f"a comma-separated list of integers{range_text}",
            _integer_list_parser(minimum, maximum),
        )
    if annotation == tuple[str, ...]:
        return ValueForm("a comma-separated list", lambda raw: tuple(_list_items(raw)))
    raise TypeError(f"unsupported setting type {annotation!r}")


def split_optional(annotation: Any) -> tuple[Any, bool]:
    """`X | None` → (X, True); anything else → (annotation, False)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation, False
    members = [member for member in typing.get_args(annotation) if member is not type(None)]
    if len(members) != 1:
        raise TypeError(f"unsupported setting type {annotation!r}: only `X | None` unions")
    return members[0], True
