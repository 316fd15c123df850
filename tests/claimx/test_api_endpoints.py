"""ClaimX API endpoints (claimx.md §11.3) against the fake server: shapes, filters, ids."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest

from vpipe_claimx.api import EMPTY_RESPONSE, ApiError, ClaimxApi
from vpipe_core.outcome import Category
from vpipe_core.transfer.netconf import ProxyConfig
from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault

PROJECT = "5517342"
DIRECT = ProxyConfig()  # no proxy, whatever the environment says
ASSIGNMENT = "6021187"


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi() as server:
        yield server


@pytest.fixture
def api(fake: FakeClaimxApi) -> Iterator[ClaimxApi]:
    with ClaimxApi(
        fake.url, fake.token, sender_username="sender@carrier.example", proxy=DIRECT
    ) as client:
        yield client


def _reject(call, *args, **kwargs) -> ApiError:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


# -- E1 -----------------------------------------------------------------------------------


def test_project_unwraps_data(api: ClaimxApi) -> None:
    export = api.project(PROJECT)
    assert set(export) == {"project", "teamMembers", "companyName"}
    assert export["project"]["projectNumber"] == "NW-2026-00418"
    assert export["companyName"] == "Northwind Mutual"


def test_project_accepts_root_fields(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(r"/export/project/5517342$", Fault.answer(b'{"project": {"projectId": 5517342}}'))
    assert api.project(PROJECT) == {"project": {"projectId": 5517342}}


@pytest.mark.parametrize("body", [b"", b"null", b'{"data": null}', b"{}"])
def test_project_empty_answer_is_permanent(
    api: ClaimxApi, fake: FakeClaimxApi, body: bytes
) -> None:
    fake.inject(r"/export/project/5517342$", Fault.answer(body))
    error = _reject(api.project, PROJECT)
    assert (error.category, error.reason, error.endpoint) == (
        Category.PERMANENT,
        EMPTY_RESPONSE,
        "E1",
    )


def test_project_other_2xx_is_empty_and_permanent(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(r"/export/project/5517342$", Fault.answer(b"", status=204))
    assert _reject(api.project, PROJECT).reason == EMPTY_RESPONSE


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"data": {"companyName": "x"}}', b'"text"'])
def test_project_unexpected_shape_is_permanent(
    api: ClaimxApi, fake: FakeClaimxApi, body: bytes
) -> None:
    fake.inject(r"/export/project/5517342$", Fault.answer(body))
    error = _reject(api.project, PROJECT)
    assert error.category is Category.PERMANENT
    assert error.reason.startswith("unexpected shape")


def test_unknown_project_is_permanent_404(api: ClaimxApi) -> None:
    error = _reject(api.project, "5520917")
    assert (error.category, error.status, error.reason) == (Category.PERMANENT, 404, "HTTP 404")


# -- ids are validated before any request ----------------------------------------------------


@pytest.mark.parametrize("bad", ["", "55a17", "5517342\n", " 5517342", "-1", "1.5", None, True])
def test_non_numeric_ids_are_permanent_without_a_request(
    api: ClaimxApi, fake: FakeClaimxApi, bad: object
) -> None:
    calls = [
        lambda: api.project(bad),  # type: ignore[arg-type]
        lambda: api.media(bad),  # type: ignore[arg-type]
        lambda: api.media(PROJECT, [bad]),  # type: ignore[list-item]
        lambda: api.task_assignment(bad),  # type: ignore[arg-type]
        lambda: api.video_collaboration(bad),  # type: ignore[arg-type]
        lambda: api.project_action({"projectId": bad, "type": "X"}),
    ]
    for call in calls:
        error = _reject(call)
        assert error.category is Category.PERMANENT
        assert "not numeric" in error.reason
    assert fake.requests == []


def test_integer_ids_are_accepted(api: ClaimxApi) -> None:
    assert api.project(5517342)["companyName"] == "Northwind Mutual"  # type: ignore[arg-type]


# -- E2 -----------------------------------------------------------------------------------


def test_media_lists_every_item(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    media = api.media(PROJECT)
    assert len(media) == 7
    assert "mediaIds" not in fake.requests[-1].query


def test_media_sends_media_ids_and_filters(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    media = api.media(PROJECT, ["98810467", "98810481"])
    assert [item["mediaID"] for item in media] == [98810467, 98810481]
    assert fake.requests[-1].query == {"mediaIds": "98810467,98810481"}


def test_media_filters_when_the_server_ignores_media_ids(
    api: ClaimxApi, fake: FakeClaimxApi
) -> None:
    fake.ignore_media_filter = True
    media = api.media(PROJECT, ["98810473"])
    assert [item["mediaID"] for item in media] == [98810473]


def test_media_absent_gives_an_empty_list(api: ClaimxApi) -> None:
    assert api.media(PROJECT, ["12345"]) == []


def test_media_with_no_ids_asks_nothing(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    assert api.media(PROJECT, []) == []
    assert fake.requests == []


@pytest.mark.parametrize(
    "body",
    [
        b'[{"mediaID": 1}, {"mediaID": 2}]',
        b'{"data": [{"mediaID": 1}, {"mediaID": 2}]}',
        b'{"media": [{"mediaID": 1}, {"mediaID": 2}]}',
    ],
)
def test_media_accepted_list_shapes(api: ClaimxApi, fake: FakeClaimxApi, body: bytes) -> None:
    fake.inject(r"/media$", Fault.answer(body))
    assert api.media(PROJECT) == [{"mediaID": 1}, {"mediaID": 2}]


def test_media_single_object(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(r"/media$", Fault.answer(b'{"mediaID": 3, "mediaName": "a.jpg"}'))
    assert api.media(PROJECT, ["3"]) == [{"mediaID": 3, "mediaName": "a.jpg"}]


@pytest.mark.parametrize(
    ("body", "status"), [(b"", 200), (b"[]", 200), (b'{"data": []}', 200), (b"", 204)]
)
def test_media_ok_empty_is_no_items(
    api: ClaimxApi, fake: FakeClaimxApi, body: bytes, status: int
) -> None:
    fake.inject(r"/media$", Fault.answer(body, status=status))
    assert api.media(PROJECT) == []


def test_media_items_without_media_id_are_dropped_with_a_warning(
    api: ClaimxApi, fake: FakeClaimxApi, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject(r"/media$", Fault.answer(b'[{"mediaID": 1}, {"other": 2}, 7]'))
    with caplog.at_level(logging.WARNING, "vpipe.claimx.api"):
        assert api.media(PROJECT) == [{"mediaID": 1}]
    assert "2 item(s) without mediaID" in caplog.text


def test_media_links_are_refreshed_to_now(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    (item,) = api.media(PROJECT, ["98810452"])
    assert item["fullDownloadLink"].startswith(f"{fake.origin}/cxfileservice/get/e1758e01?")
    assert "systemDate=1770114161509" not in item["fullDownloadLink"]


# -- E3 -----------------------------------------------------------------------------------


def test_task_assignment_full(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    task = api.task_assignment(ASSIGNMENT)
    assert task["assignmentId"] == 6021187
    assert task["customTask"]["taskId"] == 27019
    assert task["externalLinkData"]["linkId"] == 412907
    number = task["response"]["groups"][0]["questionAndAnswers"][1]["responseAnswerExport"]
    assert number["numberAnswer"]["value"] == Decimal("14.5")
    assert fake.requests[-1].query == {"full": "true"}


def test_task_assignment_under_data(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(r"/assignment/", Fault.answer(b'{"data": {"assignmentId": 6021187}}'))
    assert api.task_assignment(ASSIGNMENT) == {"assignmentId": 6021187}


def test_task_assignment_empty_is_permanent(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(r"/assignment/", Fault.answer(b"", status=200))
    error = _reject(api.task_assignment, ASSIGNMENT)
    assert (error.category, error.reason, error.endpoint) == (
        Category.PERMANENT,
        EMPTY_RESPONSE,
        "E3",
    )


def test_unknown_assignment_is_404(api: ClaimxApi) -> None:
    assert _reject(api.task_assignment, "6021188").status == 404


# -- E4 -----------------------------------------------------------------------------------


def test_video_collaboration_body_and_decimals(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    report = api.video_collaboration(PROJECT)
    assert report is not None
    assert report["videoCollaborationId"] == 91377
    assert report["totalTimeSeconds"] == Decimal("1587.25")
    assert str(report["totalTimeSeconds"]) == "1587.25"
    request = fake.requests[-1]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "reportType": "VIDEO_COLLABORATION",
        "projectId": 5517342,
        "senderUsername": "sender@carrier.example",
    }


def test_video_collaboration_dates_are_sent(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    api.video_collaboration(PROJECT, start_date="2026-02-01", end_date="2026-02-05")
    body = fake.requests[-1].json()
    assert (body["startDate"], body["endDate"]) == ("2026-02-01", "2026-02-05")


def test_video_collaboration_without_sender_omits_it(fake: FakeClaimxApi) -> None:
    with ClaimxApi(fake.url, fake.token, proxy=DIRECT) as client:
        client.video_collaboration(PROJECT)
    assert "senderUsername" not in fake.requests[-1].json()


@pytest.mark.parametrize("wrapper", ["data", "collaborations", "videoCollaboration"])
def test_video_collaboration_picks_the_matching_claim(
    api: ClaimxApi, fake: FakeClaimxApi, wrapper: str
) -> None:
    items = '[{"claimId": 1, "guid": "other"}, {"claimId": 5517342, "guid": "mine"}]'
    body = f'{{"{wrapper}": {items}}}'
    fake.inject(r"/data$", Fault.answer(body.encode()))
    report = api.video_collaboration(PROJECT)
    assert report is not None and report["guid"] == "mine"


def test_video_collaboration_never_takes_the_first(
    api: ClaimxApi, fake: FakeClaimxApi, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject(r"/data$", Fault.answer(b'{"data": [{"claimId": 999, "guid": "other"}]}'))
    with caplog.at_level(logging.WARNING, "vpipe.claimx.api"):
        assert api.video_collaboration(PROJECT) is None
    assert "none with that claimId" in caplog.text


def test_video_collaboration_object_is_used(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(r"/data$", Fault.answer(b'{"videoCollaboration": {"videoCollaborationId": 5}}'))
    assert api.video_collaboration(PROJECT) == {"videoCollaborationId": 5}


@pytest.mark.parametrize(
    ("body", "status"), [(b"", 200), (b'{"data": []}', 200), (b"null", 200), (b"", 204)]
)
def test_video_collaboration_empty_report_is_none(
    api: ClaimxApi, fake: FakeClaimxApi, body: bytes, status: int
) -> None:
    fake.inject(r"/data$", Fault.answer(body, status=status))
    assert api.video_collaboration(PROJECT) is None


# -- P1, P2 ---------------------------------------------------------------------------------


def test_project_id_for_number(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    assert api.project_id_for("NW-2026-00418") == PROJECT
    assert fake.requests[-1].query == {"projectNumber": "NW-2026-00418"}


@pytest.mark.parametrize("body", [b"5517342", b'{"projectId": 5517342}', b'{"id": "5517342"}'])
def test_project_id_accepted_shapes(api: ClaimxApi, fake: FakeClaimxApi, body: bytes) -> None:
    fake.inject(r"/projectId$", Fault.answer(body))
    assert api.project_id_for("NW-2026-00418") == PROJECT


@pytest.mark.parametrize("body", [b'{"projectId": "abc"}', b"[5517342]", b"1.5"])
def test_project_id_bad_shapes_are_permanent(
    api: ClaimxApi, fake: FakeClaimxApi, body: bytes
) -> None:
    fake.inject(r"/projectId$", Fault.answer(body))
    assert _reject(api.project_id_for, "NW-2026-00418").category is Category.PERMANENT


def test_project_id_for_unknown_number_is_404(api: ClaimxApi) -> None:
    assert _reject(api.project_id_for, "NW-0000").status == 404


def test_project_id_for_blank_number_asks_nothing(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    assert _reject(api.project_id_for, "  ").category is Category.PERMANENT
    assert fake.requests == []


def test_project_action_posts_the_body(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    action = {
        "projectId": 5517342,
        "usePrimaryContactAsSender": True,
        "type": "CUSTOM_TASK_ASSIGN_EXTERNAL_LINK",
        "data": {
            "customTaskName": "iTel",
            "customTaskId": 27019,
            "notificationType": "COPY_EXTERNAL_LINK_URL",
        },
    }
    assert api.project_action(action) is None
    assert fake.actions == [action]
    assert fake.requests[-1].headers["content-type"] == "application/json"


def test_project_action_any_2xx_is_success(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(r"/actions$", Fault.answer(b"", status=202))
    api.project_action({"projectId": 5517342, "type": "CUSTOM_TASK_ASSIGN_EXTERNAL_LINK"})


# -- transport headers ----------------------------------------------------------------------


def test_request_headers(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    api.project(PROJECT)
    headers = fake.requests[-1].headers
    assert headers["authorization"] == f"Basic {fake.token}"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("vpipe/")
    assert "content-type" not in headers


def test_basic_prefix_is_stripped_once_with_a_warning(
    fake: FakeClaimxApi, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "vpipe.claimx.api"):
        client = ClaimxApi(fake.url, f"Basic {fake.token}", proxy=DIRECT)
    assert "starts with 'Basic '" in caplog.text
    assert client.project(PROJECT)["companyName"] == "Northwind Mutual"
    assert fake.requests[-1].headers["authorization"] == f"Basic {fake.token}"


def test_token_is_base64_user_password(fake: FakeClaimxApi) -> None:
    user, _, password = base64.b64decode(fake.token).decode().partition(":")
    assert user and password


@pytest.mark.parametrize("suffix", ["", "/", "//"])
def test_base_url_joined_with_one_slash(fake: FakeClaimxApi, suffix: str) -> None:
    with ClaimxApi(fake.url + suffix, fake.token, proxy=DIRECT) as client:
        client.project(PROJECT)
    assert fake.requests[-1].path == "/service/cxedirest/export/project/5517342"


def test_media_with_one_id_as_a_string(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    assert [item["mediaID"] for item in api.media(PROJECT, "98810452")] == [98810452]  # type: ignore[arg-type]
    assert fake.requests[-1].query == {"mediaIds": "98810452"}
