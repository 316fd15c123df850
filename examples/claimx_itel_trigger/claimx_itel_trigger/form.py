"""The iTel cabinet form of an E3 ``full=true`` body (``response.groups``) as typed columns.

A question is known by its group and question text (compared without case and extra spaces);
its answer is the first present of ``claimMediaIds``, ``numberAnswer.value``,
``optionAnswer.name`` and ``text``. Known questions become typed columns (`COLUMNS`: linear feet
are doubles, 14.5 stays 14.5); photos become media references; every answered question is in
the readable report. An answer that does not fit its column's type leaves the column ``None``
and is reported as a problem, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import attrs

Kind = Literal["double", "int", "bool", "text"]


@attrs.frozen
class Column:
    name: str
    group: str
    question: str
    kind: Kind


LINEAR_FEET = "Linear Feet Capture"
TYPES_DAMAGED = "Cabinet Types Damaged"

COLUMNS: tuple[Column, ...] = (
    Column("countertops_lf", LINEAR_FEET, "Countertops (linear feet)", "double"),
    Column("lower_cabinets_lf", LINEAR_FEET, "Lower Cabinets (linear feet)", "double"),
    Column("upper_cabinets_lf", LINEAR_FEET, "Upper Cabinets (linear feet)", "double"),
    Column("full_height_cabinets_lf", LINEAR_FEET, "Full Height Cabinets (linear feet)", "double"),
    Column("island_cabinets_lf", LINEAR_FEET, "Island Cabinets (linear feet)", "double"),
    Column("lower_cabinets_damaged", TYPES_DAMAGED, "Lower Cabinets Damaged?", "bool"),
    Column("upper_cabinets_damaged", TYPES_DAMAGED, "Upper Cabinets Damaged?", "bool"),
    Column("full_height_cabinets_damaged", TYPES_DAMAGED, "Full Height Cabinets Damaged?", "bool"),
    Column("island_cabinets_damaged", TYPES_DAMAGED, "Island Cabinets Damaged?", "bool"),
    Column("lower_damaged_boxes", "Lower Cabinets", "Enter Number of Damaged Lower Boxes", "int"),
    Column("lower_cabinets_detached", "Lower Cabinets", "Are The Lower Cabinets Detached?", "bool"),
    Column("upper_damaged_boxes", "Upper Cabinets", "Enter Number of Damaged Upper Boxes", "int"),
    Column("upper_cabinets_detached", "Upper Cabinets", "Are The Upper Cabinets Detached?", "bool"),
    Column("damage_description", "Damage Description", "Enter Damaged Description", "text"),
)


def _key(group: str, question: str) -> tuple[str, str]:
    return (" ".join(group.split()).casefold(), " ".join(question.split()).casefold())


_BY_QUESTION = {_key(column.group, column.question): column for column in COLUMNS}


@attrs.frozen
class MediaRef:
    """A photo the form points at (``claimMediaIds``)."""

    media_id: str
    group: str
    question: str


@attrs.frozen
class ParsedForm:
    """Attributes:
    submission: every `COLUMNS` name → its typed value (``None`` when unanswered).
    media: photo references in form order, once per (media id, question).
    report: ``{group, question, answer}`` for every answered question, in form order.
    problems: answers that did not fit their column, in words.
    """

    submission: dict[str, Any]
    media: tuple[MediaRef, ...]
    report: tuple[dict[str, Any], ...]
    problems: tuple[str, ...]


def parse_form(assignment: Mapping[str, Any]) -> ParsedForm:
    """Parse the ``response.groups`` of an E3 full body (absent groups: an empty form)."""
    submission: dict[str, Any] = {column.name: None for column in COLUMNS}
    media: dict[tuple[str, str, str], MediaRef] = {}
    report: list[dict[str, Any]] = []
    problems: list[str] = []
    for group, question, answer in _answers(assignment):
        report.append({"group": group, "question": question, "answer": answer})
        if isinstance(answer, list):
            for media_id in answer:
                ref = MediaRef(str(media_id), group, question)
                media.setdefault((ref.media_id, group, question), ref)
            continue
        column = _BY_QUESTION.get(_key(group, question))
        if column is None:
            continue
        value = typed(answer, column.kind)
        if value is None:
            problems.append(
                f"{column.name}: {answer!r} ({group} / {question}) is not a {column.kind}"
            )
        submission[column.name] = value
    return ParsedForm(submission, tuple(media.values()), tuple(report), tuple(problems))


def _answers(assignment: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    response = assignment.get("response") or {}
    found = []
    for group in _list(response.get("groups")):
        group_name = str(group.get("name") or "")
        for item in _list(group.get("questionAndAnswers")):
            answer = answer_of(item.get("responseAnswerExport") or {})
            if answer is not None:
                found.append((group_name, str(item.get("questionText") or ""), answer))
    return found


def _list(value: Any) -> Sequence[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def answer_of(export: Mapping[str, Any]) -> Any:
    """The answer of one ``responseAnswerExport``: media ids, number, option name or text."""
    if export.get("claimMediaIds"):
        return [str(media_id) for media_id in export["claimMediaIds"]]
    number = export.get("numberAnswer")
    if isinstance(number, Mapping) and number.get("value") is not None:
        return _plain_number(number["value"])
    option = export.get("optionAnswer")
    if isinstance(option, Mapping) and option.get("name") is not None:
        return option["name"]
    text = export.get("text")
    return text if text not in (None, "") else None


def _plain_number(value: Any) -> Any:
    """The API client reads JSON numbers as `Decimal` (exact); the form carries int or float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def typed(value: Any, kind: Kind) -> Any:
    """`value` as `kind`, or ``None`` when it does not fit."""
    if kind == "text":
        return str(value)
    if kind == "bool":
        return _yes_no(value)
    number = _number(value)
    if number is None:
        return None
    if kind == "double":
        return number
    return int(number) if number.is_integer() else None


def _yes_no(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text.startswith("yes"):
        return True
    if text.startswith("no"):
        return False
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
