"""E1 (`/export/project/{id}`) → `claimx_projects` and `claimx_contacts` rows; the partial project
rows of the policyholder and XA-link events (claimx.md §3, §9)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vpipe_claimx.rows.entities import PARTIAL, EntityRows, Row, Stamp
from vpipe_claimx.rows.values import (
    api_time,
    date_of,
    ingestion_timestamp,
    mapping,
    objects,
    timestamp,
    to_bool,
    to_double,
    to_id,
    to_int,
    to_text,
)

PROJECTS = "projects"
CONTACTS = "contacts"
POLICYHOLDER = "POLICYHOLDER"
CLAIM_REP = "CLAIM_REP"

_TEXT_FIELDS = {
    "project_number": "projectNumber",
    "secondary_number": "secondaryNumber",
    "status": "status",
    "type_of_loss": "typeOfLoss",
    "cause_of_loss": "causeOfLoss",
    "loss_description": "lossDescription",
    "custom_attribute1": "customAttribute1",
    "custom_attribute2": "customAttribute2",
    "custom_attribute3": "customAttribute3",
    "custom_external_unique_id": "customExternalUniqueId",
}
_TIME_FIELDS = {
    "created_date": "createdDate",
    "date_of_loss": "dateOfLoss",
    "date_received": "dateReceived",
    "date_contacted": "dateContacted",
    "planned_inspection_date": "plannedInspectionDate",
    "date_inspected": "dateInspected",
    "appointment_date": "appointmentDate",
}
_ADDRESS_FIELDS = {
    "street1": "street1",
    "street2": "street2",
    "city": "city",
    "state_province": "stateProvince",
    "zip_postcode": "zipPostcode",
    "county": "county",
    "country": "country",
}
_PARTIAL_EVENTS = {
    "POLICYHOLDER_INVITED": "policyholder_invited_at",
    "POLICYHOLDER_JOINED": "policyholder_joined_at",
}


def e1_fields(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """E1 fields are under `data` when present, else at the root (§11.3)."""
    data = body.get("data")
    return data if isinstance(data, Mapping) and "project" in data else body


def project_id_of(body: Mapping[str, Any]) -> str | None:
    """The `projectId` E1 returned, as integer text; None when it is absent or empty."""
    return to_id(mapping(e1_fields(body).get("project")).get("projectId"), PROJECTS, "project_id")


def project_entities(
    body: Mapping[str, Any],
    stamp: Stamp,
    fetched_at: datetime,
    master_file_name: str | None = None,
) -> EntityRows:
    """The full project row and its contacts from an E1 body. `master_file_name` (the MFN
    event's value) wins over the body's `mfn`. Raises ValueError when E1 has no `projectId`."""
    fields = e1_fields(body)
    row = project_row(fields, stamp, fetched_at, master_file_name)
    contacts = project_contacts(
        fields, row["project_id"], row["master_file_name"], stamp, fetched_at
    )
    return EntityRows(projects=[row], contacts=contacts)


def project_row(
    body: Mapping[str, Any],
    stamp: Stamp,
    fetched_at: datetime,
    master_file_name: str | None = None,
) -> Row:
    fields = e1_fields(body)
    project = mapping(fields.get("project"))
    project_id = project_id_of(fields)
    if project_id is None:
        raise ValueError("E1 response has no projectId")
    customer = mapping(project.get("customerInformation"))
    address = mapping(project.get("address"))
    phone = next(iter(objects(customer.get("phones"))), {})
    return {
        "project_id": project_id,
        "master_file_name": to_text(master_file_name)
        or to_text(project.get("mfn"))
        or to_text(project.get("masterFilename")),
        **{column: to_text(project.get(name)) for column, name in _TEXT_FIELDS.items()},
        **{column: api_time(project.get(name)) for column, name in _TIME_FIELDS.items()},
        "year_built": to_int(project.get("yearBuilt"), PROJECTS, "year_built"),
        "square_footage": to_double(project.get("squareFootage"), PROJECTS, "square_footage"),
        "customer_first_name": to_text(customer.get("firstName")),
        "customer_last_name": to_text(customer.get("lastName")),
        "custom_business_name": to_text(customer.get("customBusinessName")),
        "business_line_type": to_text(customer.get("businessLineType")),
        "primary_email": _primary_email(customer),
        "primary_phone": to_text(phone.get("phoneNumber")),
        "primary_phone_country_code": to_int(
            phone.get("phoneCountryCode"), PROJECTS, "primary_phone_country_code"
        ),
        **{column: to_text(address.get(name)) for column, name in _ADDRESS_FIELDS.items()},
        "company_name": to_text(fields.get("companyName")),
        "coverages": None,
        "contents_task_sent": None,
        "contents_task_at": None,
        "last_enriched_at": timestamp(fetched_at),
        **stamp.columns(),
    }


def _emails(customer: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(address, primary) per distinct non-blank e-mail address, in API order."""
    found: dict[str, bool] = {}
    for email in objects(customer.get("emails")):
        address = to_text(email.get("emailAddress"))
        if address is not None:
            primary = to_bool(email.get("primary"), CONTACTS, "primary") is True
            found[address] = found.get(address, False) or primary
    return list(found.items())


def _primary_email(customer: Mapping[str, Any]) -> str | None:
    emails = _emails(customer)
    flagged = [address for address, primary in emails if primary]
    candidates = flagged or [address for address, _ in emails]
    return candidates[0] if candidates else None


def project_contacts(
    body: Mapping[str, Any],
    project_id: str,
    master_file_name: str | None,
    stamp: Stamp,
    fetched_at: datetime,
) -> list[Row]:
    """The customer as POLICYHOLDER (one row per e-mail address, primary) and each team member
    as CLAIM_REP; people without an e-mail address give no row."""
    fields = e1_fields(body)
    project = mapping(fields.get("project"))
    customer = mapping(project.get("customerInformation"))
    phone = next(iter(objects(customer.get("phones"))), {})
    common = {
        "project_id": project_id,
        "video_collaboration_id": None,
        "last_enriched_at": timestamp(fetched_at),
        "created_date": date_of(stamp.written_at),
        **stamp.columns(),
    }
    customer_rows = [
        {
            **common,
            "contact_email": address,
            "contact_type": POLICYHOLDER,
            "first_name": to_text(customer.get("firstName")),
            "last_name": to_text(customer.get("lastName")),
            "phone_number": to_text(phone.get("phoneNumber")),
            "phone_country_code": to_int(
                phone.get("phoneCountryCode"), CONTACTS, "phone_country_code"
            ),
            "is_primary_contact": True,
            "master_file_name": master_file_name,
        }
        for address, _ in _emails(customer)
    ]
    return customer_rows + _team_rows(fields, common)


def _team_rows(fields: Mapping[str, Any], common: Row) -> list[Row]:
    rows: dict[str, Row] = {}
    for member in objects(fields.get("teamMembers")):
        address = to_text(member.get("userName"))
        if address is None:
            continue
        rows[address] = {
            **common,
            "contact_email": address,
            "contact_type": CLAIM_REP,
            "first_name": None,
            "last_name": None,
            "phone_number": None,
            "phone_country_code": None,
            "is_primary_contact": to_bool(
                member.get("primaryContact"), CONTACTS, "is_primary_contact"
            ),
            "master_file_name": to_text(member.get("mfn")),
        }
    return list(rows.values())


def policyholder_row(event_type: str, project_id: str, ingested_at: str, stamp: Stamp) -> Row:
    """POLICYHOLDER_INVITED/JOINED: a partial row with the event's ingestion time."""
    column = _PARTIAL_EVENTS[event_type]
    return _partial(project_id, stamp, {column: ingestion_timestamp(ingested_at)})


def xa_autolink_failed_row(project_id: str, ingested_at: str, stamp: Stamp) -> Row:
    """PROJECT_AUTO_XA_LINKING_UNSUCCESSFUL: a partial row flagging the failure."""
    columns = {"xa_autolink_fail": True, "xa_autolink_fail_at": ingestion_timestamp(ingested_at)}
    return _partial(project_id, stamp, columns)


def _partial(project_id: str, stamp: Stamp, columns: Row) -> Row:
    return {"project_id": project_id, **columns, **stamp.columns(), PARTIAL: True}
