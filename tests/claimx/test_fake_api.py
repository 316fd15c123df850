"""The fake ClaimX API itself: fixtures, links and files, expiry, generated projects, faults."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import urllib3

from vpipe_claimx.api import ApiError, ClaimxApi
from vpipe_core.outcome import Category
from vpipe_core.transfer.download import Downloader, DownloadError
from vpipe_core.transfer.netconf import ProxyConfig
from vpipe_core.transfer.policy import UrlPolicy
from vpipe_core.transfer.rules import TypeRules
from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault
from vpipe_testing.claimx.fake_data import (
    FakeProject,
    fixture_project,
    generated_assignment_id,
    generated_media_ids,
)

LOCAL = frozenset({"127.0.0.1"})  # allowed, and plain http (the local servers)

PROJECT = "5517342"
DIRECT = ProxyConfig()  # no proxy, whatever the environment says
E2_PATH = r"/export/project/5517342/media$"
FROZEN = datetime(2026, 2, 3, 10, 31, 7, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi() as server:
        yield server


@pytest.fixture
def api(fake: FakeClaimxApi) -> Iterator[ClaimxApi]:
    with ClaimxApi(fake.url, fake.token, proxy=DIRECT) as client:
        yield client


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager()
    yield pool
    pool.clear()


def _link(api: ClaimxApi, media_id: str) -> str:
    (item,) = api.media(PROJECT, [media_id])
    link: str = item["fullDownloadLink"]
    return link


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _get(http: urllib3.PoolManager, url: str, **headers: str) -> urllib3.BaseHTTPResponse:
    return http.request("GET", url, headers=headers, redirect=False, retries=False)


# -- links and files ---------------------------------------------------------------------------


def test_links_are_signed_at_the_frozen_time(fake: FakeClaimxApi, api: ClaimxApi) -> None:
    fake.freeze(FROZEN)
    file_service = _query(_link(api, "98810452"))
    assert file_service["systemDate"] == str(int(FROZEN.timestamp() * 1000))
    assert file_service["filename"] == "IMG_0001.jpg"
    assert file_service["expires"] == "86400000"
    s3 = _query(_link(api, "98810473"))
    assert s3["X-Amz-Date"] == "20260203T103107Z"
    assert s3["X-Amz-Expires"] == "3600"


def test_file_service_link_redirects_to_s3_and_serves_the_bytes(
    fake: FakeClaimxApi, api: ClaimxApi, http: urllib3.PoolManager
) -> None:
    link = _link(api, "98810452")
    assert link.startswith(f"{fake.origin}/cxfileservice/get/e1758e01?")
    redirect = _get(http, link)
    assert redirect.status == 302
    location = redirect.headers["Location"]
    assert location.startswith(f"{fake.origin}/s3/claimxperience/media/5517342/98810452.jpg?")
    assert "X-Amz-Signature=" in location
    answer = _get(http, location)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert hashlib.sha256(answer.data).hexdigest() == fake.file_sha256("98810452")
    assert len(answer.data) == 4096


@pytest.mark.parametrize(
    ("media_id", "content_type"),
    [("98810473", "video/mp4"), ("98810481", "application/pdf"), ("98810495", "image/jpeg")],
)
def test_every_fixture_link_downloads(
    fake: FakeClaimxApi,
    api: ClaimxApi,
    http: urllib3.PoolManager,
    media_id: str,
    content_type: str,
) -> None:
    answer = http.request("GET", _link(api, media_id))  # follows the 302 when there is one
    assert answer.status == 200
    assert answer.headers["Content-Type"] == content_type
    assert answer.data == fake.file_bytes(media_id)


def test_file_contents_and_sizes_are_configurable(http: urllib3.PoolManager) -> None:
    sizes = {"98810452": 10, "98810467": 70_000}
    with (
        FakeClaimxApi(
            files={"98810473": b"tiny video"}, file_size=lambda m: sizes.get(m, 1)
        ) as fake,
        ClaimxApi(fake.url, fake.token, proxy=DIRECT) as client,
    ):
        bodies = {m: http.request("GET", _link(client, m)).data for m in (*sizes, "98810473")}
    assert {m: len(body) for m, body in bodies.items()} == {
        "98810452": 10,
        "98810467": 70_000,
        "98810473": 10,
    }
    assert bodies["98810473"] == b"tiny video"
    assert bodies["98810452"] != bodies["98810467"][:10]  # seeded by media id


def test_ranges_are_served(fake: FakeClaimxApi, api: ClaimxApi, http: urllib3.PoolManager) -> None:
    location = _get(http, _link(api, "98810452")).headers["Location"]
    answer = _get(http, location, Range="bytes=100-199")
    assert answer.status == 206
    assert answer.headers["Content-Range"] == "bytes 100-199/4096"
    assert answer.data == fake.file_bytes("98810452")[100:200]


def test_s3_refuses_an_authorization_header(api: ClaimxApi, http: urllib3.PoolManager) -> None:
    answer = _get(http, _link(api, "98810473"), Authorization="Basic abc")
    assert answer.status == 400
    assert b"Only one auth mechanism" in answer.data


def test_tampered_links_are_refused(api: ClaimxApi, http: urllib3.PoolManager) -> None:
    file_service = _link(api, "98810452")
    later = str(int(_query(file_service)["systemDate"]) + 1000)
    tampered = file_service.replace(_query(file_service)["systemDate"], later)
    assert _get(http, tampered).status == 403
    s3 = _link(api, "98810473").replace("X-Amz-Expires=3600", "X-Amz-Expires=7200")
    assert _get(http, s3).status == 403


def test_links_never_served_are_404(fake: FakeClaimxApi, http: urllib3.PoolManager) -> None:
    assert _get(http, f"{fake.origin}/cxfileservice/get/e1758e01?sign=x").status == 404
    assert _get(http, f"{fake.origin}/s3/claimxperience/media/1/2.jpg").status == 404


# -- expiry ------------------------------------------------------------------------------------


def test_expired_links_answer_403_then_a_refresh_works(
    fake: FakeClaimxApi, api: ClaimxApi, http: urllib3.PoolManager
) -> None:
    fake.expire_links(1)
    stale = _link(api, "98810452")
    assert _get(http, stale).status == 403
    assert b"link expired" in _get(http, stale).data
    fresh = _link(api, "98810452")
    assert http.request("GET", fresh).status == 200
    assert fake.count(E2_PATH) == 2


def test_s3_links_expire_with_time(
    fake: FakeClaimxApi, api: ClaimxApi, http: urllib3.PoolManager
) -> None:
    fake.freeze(FROZEN)
    link = _link(api, "98810473")
    fake.freeze(FROZEN + timedelta(seconds=3599))
    assert _get(http, link).status == 200
    fake.freeze(FROZEN + timedelta(seconds=3601))
    answer = _get(http, link)
    assert answer.status == 403
    assert b"Request has expired" in answer.data


def test_core_downloader_refreshes_an_expired_link_exactly_once(
    fake: FakeClaimxApi, api: ClaimxApi, tmp_path: Path
) -> None:
    """End to end with the real downloader: the stale link gets 403, one E2 refresh cures it."""
    fake.expire_links(1)
    stale = _link(api, "98810452")

    def refresh(url: str, error: DownloadError) -> str:
        return _link(api, "98810452")

    policy = UrlPolicy(LOCAL, LOCAL, allowed_ports=frozenset({urlsplit(stale).port}))
    with Downloader(policy, TypeRules(), tmp_path / "cache") as downloader:
        result = downloader.download(
            stale, "98810452", "5517342/media/98810452_IMG_0001.jpg", refresh=refresh
        )
    assert result.refreshes == 1
    assert result.sha256 == fake.file_sha256("98810452")
    assert result.content_type == "image/jpeg"
    assert fake.count(E2_PATH) == 2  # the first listing and exactly one refresh


# -- projects ------------------------------------------------------------------------------------


def test_unknown_ids_are_404(api: ClaimxApi) -> None:
    for call in (
        lambda: api.project("5520917"),
        lambda: api.media("5520917"),
        lambda: api.task_assignment("1"),
        lambda: api.video_collaboration("5520917"),
        lambda: api.project_id_for("NW-0"),
        lambda: api.project_action({"projectId": 1, "type": "CUSTOM_TASK_ASSIGN_EXTERNAL_LINK"}),
    ):
        with pytest.raises(ApiError) as caught:
            call()
        assert (caught.value.status, caught.value.category) == (404, Category.PERMANENT)


def test_wrong_token_is_401_on_every_endpoint(fake: FakeClaimxApi) -> None:
    with ClaimxApi(fake.url, "bm90OnRoZXRva2Vu", proxy=DIRECT) as client:
        for call in (
            lambda: client.project(PROJECT),
            lambda: client.media(PROJECT),
            lambda: client.task_assignment("6021187"),
            lambda: client.video_collaboration(PROJECT),
            lambda: client.project_id_for("NW-2026-00418"),
            lambda: client.project_action({"projectId": PROJECT, "type": "X"}),
        ):
            with pytest.raises(ApiError) as caught:
                call()
            assert caught.value.category is Category.AUTH
    assert fake.actions == []


def test_e3_without_full_leaves_out_the_details(
    fake: FakeClaimxApi, http: urllib3.PoolManager
) -> None:
    url = f"{fake.url}/customTasks/assignment/6021187"
    answer = http.request("GET", url, headers={"Authorization": f"Basic {fake.token}"})
    assert answer.status == 200
    assert "customTask" not in answer.json()
    assert answer.json()["assignmentId"] == 6021187


def test_generated_projects_for_configured_ids(http: urllib3.PoolManager) -> None:
    with (
        FakeClaimxApi(generate={"7000001", 7000002}, media_per_project=4) as fake,
        ClaimxApi(fake.url, fake.token, proxy=DIRECT) as client,
    ):
        export = client.project("7000002")
        assert export["project"]["projectId"] == 7000002
        assert export["project"]["projectNumber"] == "GEN-7000002"
        media = client.media("7000001")
        assert [str(item["mediaID"]) for item in media] == generated_media_ids("7000001", 4)
        assert [item["mediaType"] for item in media] == ["jpg", "pdf", "mp4", "jpg"]
        for item in media:
            answer = http.request("GET", item["fullDownloadLink"])
            assert answer.status == 200
            assert answer.data == fake.file_bytes(str(item["mediaID"]))
        task = client.task_assignment(generated_assignment_id("7000001"))
        assert (task["projectId"], task["customTask"]["taskId"]) == (7000001, 27019)
        report = client.video_collaboration("7000001")
        assert report is not None and report["claimId"] == 7000001
        assert client.project_id_for("GEN-7000002") == "7000002"
        assert client.project(PROJECT)["companyName"] == "Northwind Mutual"  # fixture still there
        with pytest.raises(ApiError):
            client.project("7000003")


def test_generated_projects_by_predicate() -> None:
    with (
        FakeClaimxApi(generate=lambda project_id: project_id.startswith("9")) as fake,
        ClaimxApi(fake.url, fake.token, proxy=DIRECT) as client,
    ):
        assert client.project("912")["project"]["projectId"] == 912
        with pytest.raises(ApiError):
            client.project("812")


def test_explicit_projects_replace_the_fixture() -> None:
    base = fixture_project()
    export = {"data": {**base.export["data"], "companyName": "Other Mutual"}}
    project = FakeProject(project_id="42", project_number="C-42", export=export)
    with (
        FakeClaimxApi(projects=[project]) as fake,
        ClaimxApi(fake.url, fake.token, proxy=DIRECT) as client,
    ):
        assert client.project("42")["companyName"] == "Other Mutual"
        assert client.media("42") == []
        assert client.video_collaboration("42") is None
        with pytest.raises(ApiError):
            client.project(PROJECT)
        fake.add_project(fixture_project())
        assert client.project(PROJECT)["companyName"] == "Northwind Mutual"


# -- faults and counting -------------------------------------------------------------------------


def test_faults_apply_in_order_then_the_normal_answer(fake: FakeClaimxApi, api: ClaimxApi) -> None:
    fake.inject(E2_PATH, Fault.http(500))
    fake.inject(E2_PATH, Fault.http(429, retry_after=2))
    statuses = []
    for _ in range(3):
        try:
            api.media(PROJECT)
            statuses.append(200)
        except ApiError as error:
            statuses.append(error.status or 0)
    assert statuses == [500, 429, 200]


def test_fault_times_method_and_clearing(fake: FakeClaimxApi, api: ClaimxApi) -> None:
    fake.inject(r"/data$", Fault.http(410), times=None, method="POST")
    fake.inject(r"/export/", Fault.http(502), times=2, method="GET")
    for _ in range(3):
        with pytest.raises(ApiError):
            api.video_collaboration(PROJECT)
    for _ in range(2):
        with pytest.raises(ApiError):
            api.project(PROJECT)
    api.project(PROJECT)
    fake.clear_faults()
    assert api.video_collaboration(PROJECT) is not None


def test_latency_delays_api_calls_not_files(http: urllib3.PoolManager) -> None:
    with (
        FakeClaimxApi(latency_s=0.2) as fake,
        ClaimxApi(fake.url, fake.token, proxy=DIRECT) as api,
    ):
        started = time.monotonic()
        link = _link(api, "98810452")
        assert time.monotonic() - started >= 0.2
        started = time.monotonic()
        redirect = _get(http, link)
        answer = _get(http, redirect.headers["Location"])
        assert answer.status == 200
        assert time.monotonic() - started < 0.2


def test_counts_and_reset(fake: FakeClaimxApi, api: ClaimxApi) -> None:
    api.project(PROJECT)
    api.media(PROJECT)
    api.video_collaboration(PROJECT)
    assert fake.count(r"/export/project/5517342") == 2
    assert fake.count(E2_PATH) == 1
    assert fake.count("", method="POST") == 1
    assert fake.max_in_flight == 1
    fake.reset_counts()
    assert fake.count() == 0


def test_importable_without_test_dependencies() -> None:
    code = (
        "import sys; import vpipe_testing.claimx.fake_api, vpipe_claimx.api; "
        "heavy = {'pytest', 'deltalake', 'pyarrow', 'confluent_kafka', 'azure', 'moto'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert loaded.strip() == "[]"
