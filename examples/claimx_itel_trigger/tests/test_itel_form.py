"""The cabinet form of the E3 fixture as typed columns (claimx.md §12: linear feet are doubles)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from importlib import resources

import pytest
from claimx_itel_trigger.form import COLUMNS, MediaRef, parse_form, typed


def assignment() -> dict:
    path = resources.files("vpipe_claimx").joinpath("data/claimx_api/custom_task_assignment.json")
    return json.loads(path.read_text())


def test_fixture_form_columns():
    form = parse_form(assignment())
    assert form.submission["lower_cabinets_lf"] == 14.5  # an Int32 column once made this 14
    assert isinstance(form.submission["lower_cabinets_lf"], float)
    assert form.submission["countertops_lf"] == 9.0
    assert isinstance(form.submission["countertops_lf"], float)
    assert form.submission["lower_cabinets_damaged"] is True
    assert form.submission["upper_cabinets_damaged"] is False
    assert form.submission["lower_damaged_boxes"] == 3
    assert form.submission["lower_cabinets_detached"] is False
    assert form.submission["damage_description"] == "Swollen particleboard on two sink base boxes"
    assert form.submission["upper_cabinets_lf"] is None, "not answered"
    assert set(form.submission) == {column.name for column in COLUMNS}
    assert form.media == (
        MediaRef("98810495", "Lower Cabinets", "Captured Lower Cabinet Box"),
        MediaRef("98810496", "Lower Cabinets", "Captured Lower Cabinet Box"),
    )
    assert form.report[1] == {
        "group": "Linear Feet Capture",
        "question": "Lower Cabinets (linear feet)",
        "answer": 14.5,
    }
    assert len(form.report) == 8 and form.problems == ()


def test_questions_match_without_case_or_extra_spaces():
    body = assignment()
    group = body["response"]["groups"][0]
    group["name"] = "linear  feet capture"
    group["questionAndAnswers"][1]["questionText"] = " LOWER cabinets (linear feet) "
    assert parse_form(body).submission["lower_cabinets_lf"] == 14.5


def test_an_answer_that_does_not_fit_is_a_problem_not_a_guess():
    body = assignment()
    answers = body["response"]["groups"][2]["questionAndAnswers"]
    answers[0]["responseAnswerExport"] = {"type": "number", "numberAnswer": {"value": 2.5}}
    answers[1]["responseAnswerExport"] = {"type": "option", "optionAnswer": {"name": "Maybe"}}
    form = parse_form(body)
    assert form.submission["lower_damaged_boxes"] is None
    assert form.submission["lower_cabinets_detached"] is None
    assert [problem.split(":")[0] for problem in form.problems] == [
        "lower_damaged_boxes",
        "lower_cabinets_detached",
    ]
    assert "'Maybe'" in form.problems[1]


@pytest.mark.parametrize(
    "body",
    [{}, {"response": None}, {"response": {"groups": "nope"}}, {"response": {"groups": [1]}}],
)
def test_a_missing_or_malformed_response_is_an_empty_form(body):
    form = parse_form(body)
    assert set(form.submission.values()) == {None}
    assert (form.media, form.report, form.problems) == ((), (), ())


def test_repeated_photo_ids_are_one_reference_per_question():
    body = copy.deepcopy(assignment())
    export = body["response"]["groups"][2]["questionAndAnswers"][2]["responseAnswerExport"]
    export["claimMediaIds"] = [98810495, 98810495]
    assert [ref.media_id for ref in parse_form(body).media] == ["98810495"]


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (14.5, "double", 14.5),
        ("14.5", "double", 14.5),
        (True, "double", None),
        ("ten", "double", None),
        (3.0, "int", 3),
        ("Yes, both", "bool", True),
        ("no", "bool", False),
        ("n/a", "bool", None),
        (7, "text", "7"),
    ],
)
def test_typed(value, kind, expected):
    assert typed(value, kind) == expected


def test_exact_decimals_from_the_api_client_become_plain_numbers():
    body = assignment()
    answers = body["response"]["groups"][0]["questionAndAnswers"]
    answers[0]["responseAnswerExport"]["numberAnswer"]["value"] = Decimal("9")
    answers[1]["responseAnswerExport"]["numberAnswer"]["value"] = Decimal("14.5")
    form = parse_form(body)
    assert [entry["answer"] for entry in form.report[:2]] == [9, 14.5]
    assert type(form.report[0]["answer"]) is int
    assert form.submission["lower_cabinets_lf"] == 14.5
