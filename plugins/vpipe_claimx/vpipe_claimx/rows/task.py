"""E3 (`/customTasks/assignment/{id}?full=true`) → `claimx_tasks`, `claimx_task_templates`,
`claimx_external_links` and the link recipient's `claimx_contacts` row (claimx.md §3, §9)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vpipe_claimx.rows.entities import EntityRows, Row, Stamp
from vpipe_claimx.rows.project import POLICYHOLDER
from vpipe_claimx.rows.values import (
    date_of,
    mapping,
    timestamp,
    to_bool,
    to_id,
    to_int,
    to_text,
)

TASKS = "tasks"
TEMPLATES = "task_templates"
LINKS = "external_links"

_TASK_INTS = {
    "task_id": "taskId",
    "assignee_id": "assigneeId",
    "assignor_id": "assignorId",
    "cancelled_by_resource_id": "cancelledByResourceId",
    "pdf_project_media_id": "pdfProjectMediaId",
    "resubmit_task_assignment_id": "resubmitTaskAssignmentId",
}
_TASK_TEXTS = {
    "task_name": "taskName",
    "form_id": "formId",
    "form_response_id": "formResponseId",
    "status": "status",
    "mfn": "mfn",
    "task_url": "url",
    "date_assigned": "dateAssigned",
    "date_completed": "dateCompleted",
    "cancelled_date": "cancelledDate",
    "date_exported": "dateExported",
    "stp_started_date": "stpStartedDate",
    "fraud_language_accepted_date": "fraudLanguageAcceptedDate",
}
_TASK_BOOLS = {"stp_enabled": "stpEnabled", "xactimate_exportable": "xactimateExportable"}

_TEMPLATE_INTS = {"comp_id": "compId", "modified_by_id": "modifiedById"}
_TEMPLATE_TEXTS = {
    "name": "name",
    "description": "description",
    "form_id": "formId",
    "form_name": "formName",
    "notify_assigned_subject": "notifyAssignedSubject",
    "notify_completed_subject": "notifyCompletedSubject",
    "modified_by": "modifiedBy",
    "modified_date": "modifiedDate",
}
_TEMPLATE_BOOLS = {
    "enabled": "enabled",
    "is_default": "default",
    "is_manual_delivery": "isManualDelivery",
    "is_external_link_delivery": "isExternalLinkDelivery",
    "provide_portal_access": "providePortalAccess",
    "notify_assigned_send_recipient": "notifyAssignedSendRecipient",
    "notify_assigned_send_recipient_sms": "notifyAssignedSendRecipientSms",
    "notify_task_completed": "notifyTaskCompleted",
    "allow_resubmit": "allowReSubmit",
    "auto_generate_pdf": "autoGeneratePdf",
}
_LINK_INTS = {"country_id": "countryId", "state_id": "stateId"}
_LINK_TEXTS = {
    "link_code": "linkCode",
    "url": "url",
    "notification_access_method": "notificationAccessMethod",
}


def e3_fields(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """E3 is an object, possibly under `data` (§11.3)."""
    data = body.get("data")
    return data if isinstance(data, Mapping) else body


def task_entities(
    body: Mapping[str, Any],
    assignment_id: str,
    project_id: str,
    stamp: Stamp,
    fetched_at: datetime,
) -> EntityRows:
    """The task, its template (`customTask`), its external link (`externalLinkData`) and the
    link recipient (POLICYHOLDER, with `task_assignment_id`, without `is_primary_contact`).

    `assignment_id` and `project_id` (the event's) are used when the body lacks them."""
    fields = e3_fields(body)
    task = task_row(fields, assignment_id, project_id, stamp, fetched_at)
    rows = EntityRows(tasks=[task])
    template = template_row(mapping(fields.get("customTask")), task["task_id"], stamp, fetched_at)
    rows.task_templates.extend([template] if template else [])
    link = mapping(fields.get("externalLinkData"))
    link_row = external_link_row(link, task["assignment_id"], task["project_id"], stamp)
    rows.external_links.extend([link_row] if link_row else [])
    recipient = link_contact_row(link, task["assignment_id"], task["project_id"], stamp, fetched_at)
    rows.contacts.extend([recipient] if recipient else [])
    return rows


def task_row(
    fields: Mapping[str, Any],
    assignment_id: str,
    project_id: str,
    stamp: Stamp,
    fetched_at: datetime,
) -> Row:
    body_assignment = to_int(fields.get("assignmentId"), TASKS, "assignment_id")
    return {
        "assignment_id": int(assignment_id) if body_assignment is None else body_assignment,
        **{column: to_int(fields.get(name), TASKS, column) for column, name in _TASK_INTS.items()},
        "project_id": to_id(fields.get("projectId"), TASKS, "project_id") or project_id,
        "assignor_email": to_text(fields.get("assignorEmail")) or to_text(fields.get("assignor")),
        **{column: to_text(fields.get(name)) for column, name in _TASK_TEXTS.items()},
        **{col: to_bool(fields.get(name), TASKS, col) for col, name in _TASK_BOOLS.items()},
        "last_enriched_at": timestamp(fetched_at),
        **stamp.columns(),
    }


def template_row(
    template: Mapping[str, Any], task_id: int | None, stamp: Stamp, fetched_at: datetime
) -> Row | None:
    """None when the body has no `customTask` (or neither it nor the task names a task id)."""
    template_id = to_int(template.get("taskId"), TEMPLATES, "task_id") if template else None
    if template_id is None and (not template or task_id is None):
        return None
    return {
        "task_id": template_id if template_id is not None else task_id,
        **{col: to_int(template.get(name), TEMPLATES, col) for col, name in _TEMPLATE_INTS.items()},
        **{col: to_text(template.get(name)) for col, name in _TEMPLATE_TEXTS.items()},
        **{
            col: to_bool(template.get(name), TEMPLATES, col)
            for col, name in _TEMPLATE_BOOLS.items()
        },
        "last_enriched_at": timestamp(fetched_at),
        **stamp.columns(),
    }


def external_link_row(
    link: Mapping[str, Any], assignment_id: int, project_id: str, stamp: Stamp
) -> Row | None:
    """None when the body has no `externalLinkData` with a `linkId`."""
    link_id = to_int(link.get("linkId"), LINKS, "link_id") if link else None
    if link_id is None:
        return None
    return {
        "link_id": link_id,
        "assignment_id": assignment_id,
        **{col: to_int(link.get(name), LINKS, col) for col, name in _LINK_INTS.items()},
        "project_id": project_id,
        **{col: to_text(link.get(name)) for col, name in _LINK_TEXTS.items()},
        "created_date": None,
        "last_accessed": None,
        "accessed_count": None,
        **stamp.columns(),
    }


def link_contact_row(
    link: Mapping[str, Any],
    assignment_id: int,
    project_id: str,
    stamp: Stamp,
    fetched_at: datetime,
) -> Row | None:
    """The link recipient; None without an e-mail address."""
    address = to_text(link.get("email"))
    if address is None:
        return None
    return {
        "project_id": project_id,
        "contact_email": address,
        "contact_type": POLICYHOLDER,
        "first_name": to_text(link.get("firstName")),
        "last_name": to_text(link.get("lastName")),
        "phone_number": to_text(link.get("phone")),
        "phone_country_code": to_int(
            link.get("phoneCountryCode"), "contacts", "phone_country_code"
        ),
        "task_assignment_id": assignment_id,
        "last_enriched_at": timestamp(fetched_at),
        "created_date": date_of(stamp.written_at),
        **stamp.columns(),
    }
