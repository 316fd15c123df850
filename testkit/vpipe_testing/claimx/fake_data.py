"""What the fake ClaimX API serves: the bundled fixture project, generated projects, file bytes.

The fixture project is 5517342 (E1, E2, E4) with task assignment 6021187 (E3), read from
`vpipe_claimx/data/claimx_api/`. Generated projects copy those bodies with ids derived from
the project id, so any number of projects can be served without storing anything:

    media ids        project_id * 1000 + 1 .. n      (`generated_media_ids`)
    assignment id    project_id * 100 + 1            (`generated_assignment_id`)
    video collab id  project_id * 10 + 1
    project number   GEN-<project_id>
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import attrs

FIXTURE_PROJECT_ID = "5517342"
FIXTURE_ASSIGNMENT_ID = "6021187"
DEFAULT_MEDIA_PER_PROJECT = 3
GENERATED_NUMBER_PREFIX = "GEN-"

CONTENT_TYPES: Mapping[str, str] = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "pdf": "application/pdf",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
}
_GENERATED_MEDIA = (("jpg", "photo_{n}.jpg"), ("pdf", "report_{n}.pdf"), ("mp4", "video_{n}.mp4"))


def content_type(media_type: str) -> str:
    return CONTENT_TYPES.get(media_type.lower(), "application/octet-stream")


def file_bytes(media_id: str, size: int) -> bytes:
    """Deterministic content: `size` bytes seeded by the media id (same id, same bytes, in
    every process), so a test can compute the expected sha256 without the server."""
    return hashlib.shake_256(f"vpipe-fake-claimx:{media_id}".encode()).digest(size)


@attrs.frozen
class FakeProject:
    """One project as the API returns it. Bodies are the JSON the endpoints serve (E1 with its
    `data` wrapper; E2 items and E4 items bare; E3 bodies by assignment id)."""

    project_id: str
    project_number: str
    export: dict[str, Any]
    media: tuple[dict[str, Any], ...] = ()
    assignments: Mapping[str, dict[str, Any]] = attrs.field(factory=dict)
    video: tuple[dict[str, Any], ...] = ()


@cache
def _fixture(name: str) -> Any:
    text = resources.files("vpipe_claimx").joinpath("data", "claimx_api", name).read_text()
    return json.loads(text)


def fixture_project() -> FakeProject:
    """Project 5517342 exactly as the bundled fixtures describe it (fresh copies)."""
    export = copy.deepcopy(_fixture("export_project.json"))
    return FakeProject(
        project_id=FIXTURE_PROJECT_ID,
        project_number=export["data"]["project"]["projectNumber"],
        export=export,
        media=tuple(copy.deepcopy(_fixture("export_project_media.json"))["data"]),
        assignments={FIXTURE_ASSIGNMENT_ID: copy.deepcopy(_fixture("custom_task_assignment.json"))},
        video=tuple(copy.deepcopy(_fixture("data_video_collaboration.json"))["data"]),
    )


def generated_media_ids(project_id: str, count: int = DEFAULT_MEDIA_PER_PROJECT) -> list[str]:
    return [str(int(project_id) * 1000 + n) for n in range(1, count + 1)]


def generated_assignment_id(project_id: str) -> str:
    return str(int(project_id) * 100 + 1)


def generated_project(project_id: str, media_count: int = DEFAULT_MEDIA_PER_PROJECT) -> FakeProject:
    """A project shaped like the fixture one, with ids and names derived from `project_id`."""
    number = f"{GENERATED_NUMBER_PREFIX}{project_id}"
    pid = int(project_id)
    export = copy.deepcopy(_fixture("export_project.json"))
    project = export["data"]["project"]
    project.update(
        projectId=pid, projectNumber=number, mfn=f"GEN_{pid}", masterFilename=f"GEN_{pid}"
    )
    assignment_id = generated_assignment_id(project_id)
    task = copy.deepcopy(_fixture("custom_task_assignment.json"))
    task.update(assignmentId=int(assignment_id), projectId=pid, mfn=f"GEN_{pid}")
    task["url"] = f"https://www.claimxperience.com/task/{assignment_id}"
    video = copy.deepcopy(_fixture("data_video_collaboration.json")["data"][0])
    video.update(
        videoCollaborationId=pid * 10 + 1, claimId=pid, mfn=f"GEN_{pid}", claimNumber=number
    )
    return FakeProject(
        project_id=project_id,
        project_number=number,
        export=export,
        media=tuple(_generated_media(project_id, media_count)),
        assignments={assignment_id: task},
        video=(video,),
    )


def _generated_media(project_id: str, count: int) -> Iterable[dict[str, Any]]:
    for n, media_id in enumerate(generated_media_ids(project_id, count), start=1):
        media_type, name_template = _GENERATED_MEDIA[(n - 1) % len(_GENERATED_MEDIA)]
        name = name_template.format(n=n)
        yield {
            "mediaID": int(media_id),
            "taskAssignmentId": None,
            "mediaType": media_type,
            "mediaName": name,
            "mediaDescription": f"Generated media {n}",
            "mediaComment": None,
            "latitude": None,
            "longitude": None,
            "gpsSource": None,
            "takenDate": None,
            "fullDownloadLink": (
                f"https://www.claimxperience.com/cxfileservice/get/{project_id}/{media_id}/{name}"
                "?systemDate=0&expires=86400000&sign=0"
            ),
            "expiresAt": None,
        }


IdFilter = Callable[[str], bool] | Collection[str | int]


class Catalogue:
    """Projects by id: explicit ones first, then generated on demand for accepted ids."""

    def __init__(
        self,
        projects: Iterable[FakeProject],
        generate: IdFilter = (),
        media_per_project: int = DEFAULT_MEDIA_PER_PROJECT,
    ) -> None:
        self._projects = {project.project_id: project for project in projects}
        self._generates = _as_predicate(generate)
        self._media_per_project = media_per_project
        self._generated: dict[str, FakeProject] = {}

    def add(self, project: FakeProject) -> None:
        self._projects[project.project_id] = project

    def project(self, project_id: str) -> FakeProject | None:
        found = self._projects.get(project_id) or self._generated.get(project_id)
        if found is None and project_id.isdigit() and self._generates(project_id):
            found = self._generated.setdefault(
                project_id, generated_project(project_id, self._media_per_project)
            )
        return found

    def assignment(self, assignment_id: str) -> dict[str, Any] | None:
        for project in self._projects.values():
            if assignment_id in project.assignments:
                return project.assignments[assignment_id]
        owner, rest = divmod(int(assignment_id), 100)
        generated = self.project(str(owner)) if rest == 1 else None
        return generated.assignments.get(assignment_id) if generated is not None else None

    def project_by_number(self, number: str) -> FakeProject | None:
        for project in self._projects.values():
            if project.project_number == number:
                return project
        if number.startswith(GENERATED_NUMBER_PREFIX):
            return self.project(number.removeprefix(GENERATED_NUMBER_PREFIX))
        return None


def _as_predicate(generate: IdFilter) -> Callable[[str], bool]:
    if callable(generate):
        return generate
    accepted = {str(value) for value in generate}
    return accepted.__contains__
