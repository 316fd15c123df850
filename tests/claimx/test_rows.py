"""Row builders (claimx.md §9) against the API fixture bodies: exact rows per table and key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources

import pytest

from vpipe_claimx import rows
from vpipe_claimx.rows import EntityRows, Stamp
from vpipe_claimx.tables import ENTITY_TABLES

EVENT = "ev-1"
INGESTED = "2026-02-04T09:26:13.0958840Z"
STAMPED = "2026-02-04T09:26:13.095884Z"
FETCHED = datetime(2026, 2, 4, 9, 30, tzinfo=UTC)
FETCHED_TEXT = "2026-02-04T09:30:00.000000Z"
WRITE = {"event_id": EVENT, "created_at": STAMPED, "updated_at": STAMPED}
STAMP = Stamp(EVENT, INGESTED)


def api_body(name: str) -> dict:
    path = resources.files("vpipe_claimx").joinpath(f"data/claimx_api/{name}.json")
    return json.loads(path.read_text())


def project_entities(master_file_name: str | None = None) -> EntityRows:
    return rows.project_entities(api_body("export_project"), STAMP, FETCHED, master_file_name)


def test_full_project_row_from_e1():
    assert project_entities().projects == [
        {
            "project_id": "5517342",
            "project_number": "NW-2026-00418",
            "master_file_name": "HOCL_8K2P4Q",
            "secondary_number": "POL-552190-03",
            "status": "Active",
            "type_of_loss": "Water",
            "cause_of_loss": "Appliance Leak",
            "loss_description": "Dishwasher supply hose failed under the sink",
            "custom_attribute1": "Region-West",
            "custom_attribute2": None,
            "custom_attribute3": None,
            "custom_external_unique_id": "NW-EXT-3391",
            "created_date": "2026-02-03T10:04:12+00:00",
            "date_of_loss": "2026-02-01T00:00:00+00:00",
            "date_received": "2026-02-03T10:04:12+00:00",
            "date_contacted": "2026-02-03T11:30:00+00:00",
            "planned_inspection_date": "2026-02-05T15:00:00+00:00",
            "date_inspected": None,
            "appointment_date": "2026-02-05T15:00:00+00:00",
            "year_built": 1987,
            "square_footage": 1840.0,
            "customer_first_name": "Elena",
            "customer_last_name": "Okafor",
            "custom_business_name": None,
            "business_line_type": "PERSONAL",
            "primary_email": "elena.okafor@mail.example",
            "primary_phone": "5550142277",
            "primary_phone_country_code": 1,
            "street1": "1187 Larkspur Ct",
            "street2": "Unit B",
            "city": "Boise",
            "state_province": "ID",
            "zip_postcode": "83709",
            "county": "Ada",
            "country": "US",
            "company_name": "Northwind Mutual",
            "coverages": None,
            "contents_task_sent": None,
            "contents_task_at": None,
            "last_enriched_at": FETCHED_TEXT,
            **WRITE,
        }
    ]


def test_mfn_event_value_wins():
    (row,) = project_entities("HOCL_8K2P4Q-R1").projects
    assert row["master_file_name"] == "HOCL_8K2P4Q-R1"


def test_contacts_one_row_per_customer_address_and_per_team_member():
    common = {
        "project_id": "5517342",
        "video_collaboration_id": None,
        "last_enriched_at": FETCHED_TEXT,
        "created_date": "2026-02-04",
        **WRITE,
    }
    customer = {
        **common,
        "contact_type": "POLICYHOLDER",
        "first_name": "Elena",
        "last_name": "Okafor",
        "phone_number": "5550142277",
        "phone_country_code": 1,
        "is_primary_contact": True,
        "master_file_name": "HOCL_8K2P4Q",
    }
    team = {
        **common,
        "contact_type": "CLAIM_REP",
        "first_name": None,
        "last_name": None,
        "phone_number": None,
        "phone_country_code": None,
    }
    assert project_entities().contacts == [
        {**customer, "contact_email": "e.okafor.alt@mail.example"},
        {**customer, "contact_email": "elena.okafor@mail.example"},
        {
            **team,
            "contact_email": "r.haddad@carrier.example",
            "is_primary_contact": True,
            "master_file_name": "HOCL_8K2P4Q",
        },
        {
            **team,
            "contact_email": "j.moreau@carrier.example",
            "is_primary_contact": False,
            "master_file_name": None,
        },
    ]


def test_people_without_email_give_no_contact_and_primary_email_falls_back_to_first():
    body = api_body("export_project")
    customer = body["data"]["project"]["customerInformation"]
    customer["emails"] = [
        {"emailAddress": "  ", "primary": True},
        {"emailAddress": "first@mail.example", "primary": False},
        {"emailAddress": "second@mail.example"},
    ]
    body["data"]["teamMembers"] = [{"userName": None, "primaryContact": True}]
    entities = rows.project_entities(body, STAMP, FETCHED)
    assert entities.projects[0]["primary_email"] == "first@mail.example"
    assert [c["contact_email"] for c in entities.contacts] == [
        "first@mail.example",
        "second@mail.example",
    ]


def test_e1_without_project_id_is_an_error():
    body = api_body("export_project")
    body["data"]["project"]["projectId"] = None
    assert rows.project_id_of(body) is None
    with pytest.raises(ValueError, match="projectId"):
        rows.project_entities(body, STAMP, FETCHED)


def test_unwrapped_e1_body_gives_the_same_rows():
    unwrapped = api_body("export_project")["data"]
    assert rows.project_entities(unwrapped, STAMP, FETCHED) == project_entities()


def test_partial_project_rows_use_the_ingestion_time():
    base = {"project_id": "5517342", **WRITE, "_partial": True}
    invited = rows.policyholder_row("POLICYHOLDER_INVITED", "5517342", INGESTED, STAMP)
    joined = rows.policyholder_row("POLICYHOLDER_JOINED", "5517342", INGESTED, STAMP)
    xa = rows.xa_autolink_failed_row("5517342", INGESTED, STAMP)
    assert invited == {**base, "policyholder_invited_at": STAMPED}
    assert joined == {**base, "policyholder_joined_at": STAMPED}
    assert xa == {**base, "xa_autolink_fail": True, "xa_autolink_fail_at": STAMPED}


def media_rows() -> dict[str, dict]:
    items = rows.media_items(api_body("export_project_media"))
    built = [rows.media_row(item, "5517342", STAMP, FETCHED) for item in items]
    return {row["media_id"]: row for row in built}


def test_media_rows():
    by_id = media_rows()
    assert sorted(by_id) == [
        "98810452",
        "98810467",
        "98810473",
        "98810481",
        "98810495",
        "98810496",
        "98810510",
    ]
    assert by_id["98810452"] == {
        "media_id": "98810452",
        "project_id": "5517342",
        "task_assignment_id": None,
        "file_type": "jpg",
        "file_name": "IMG_0001.jpg",
        "media_description": "Kitchen floor by dishwasher",
        "media_comment": None,
        "latitude": "43.6187",
        "longitude": "-116.3093",
        "gps_source": "EXIF",
        "taken_date": "2026-02-03T10:20:03Z",
        "full_download_link": "https://www.claimxperience.com/cxfileservice/get/e1758e01"
        "?filename=IMG_0001.jpg&systemDate=1770114161509&expires=86400000&sign=b5b2862a180f8c81",
        "expires_at": None,
        "last_enriched_at": FETCHED_TEXT,
        **WRITE,
    }
    assert by_id["98810495"]["task_assignment_id"] == "6021187"


@pytest.mark.parametrize(
    "body",
    [
        [{"mediaID": 1}],
        {"data": [{"mediaID": 1}]},
        {"media": [{"mediaID": 1}]},
        {"mediaID": 1},
        {"data": {"mediaID": 1}},
    ],
)
def test_media_body_shapes(body):
    items = rows.media_items(body)
    assert [rows.media_id_of(item) for item in items] == ["1"]
    assert rows.find_media(items, "1") is items[0]
    assert rows.find_media(items, "2") is None


def task_entities(body: dict | None = None) -> EntityRows:
    body = api_body("custom_task_assignment") if body is None else body
    return rows.task_entities(body, "6021187", "5517342", STAMP, FETCHED)


def test_task_row():
    assert task_entities().tasks == [
        {
            "assignment_id": 6021187,
            "task_id": 27019,
            "assignee_id": 902114,
            "assignor_id": 781030,
            "cancelled_by_resource_id": None,
            "pdf_project_media_id": 98810510,
            "resubmit_task_assignment_id": None,
            "project_id": "5517342",
            "assignor_email": "r.haddad@carrier.example",
            "task_name": "iTel Cabinet Repair Form",
            "form_id": "67a0c3f1e4b0d2a9c8b7f615",
            "form_response_id": "67a1e8b2e4b0d2a9c8b7f9a0",
            "status": "COMPLETED",
            "mfn": "HOCL_8K2P4Q",
            "task_url": "https://www.claimxperience.com/task/6021187",
            "date_assigned": "2026-02-03T15:10:40Z",
            "date_completed": "2026-02-04T09:26:05Z",
            "cancelled_date": None,
            "date_exported": None,
            "stp_started_date": None,
            "fraud_language_accepted_date": "2026-02-04T09:25:58Z",
            "stp_enabled": False,
            "xactimate_exportable": False,
            "last_enriched_at": FETCHED_TEXT,
            **WRITE,
        }
    ]


def test_task_template_row():
    assert task_entities().task_templates == [
        {
            "task_id": 27019,
            "comp_id": 3305,
            "modified_by_id": 7120,
            "name": "iTel Cabinet Repair Form",
            "description": "Cabinet damage capture for iTel",
            "form_id": "67a0c3f1e4b0d2a9c8b7f615",
            "form_name": "Cabinet Repair",
            "notify_assigned_subject": "A task is waiting for you",
            "notify_completed_subject": "Cabinet form submitted",
            "modified_by": "admin@carrier.example",
            "modified_date": "2025-12-09T16:45:00Z",
            "enabled": True,
            "is_default": False,
            "is_manual_delivery": False,
            "is_external_link_delivery": True,
            "provide_portal_access": False,
            "notify_assigned_send_recipient": True,
            "notify_assigned_send_recipient_sms": False,
            "notify_task_completed": True,
            "allow_resubmit": True,
            "auto_generate_pdf": True,
            "last_enriched_at": FETCHED_TEXT,
            **WRITE,
        }
    ]


def test_external_link_row_has_no_fabricated_values():
    assert task_entities().external_links == [
        {
            "link_id": 412907,
            "assignment_id": 6021187,
            "country_id": 1,
            "state_id": 13,
            "project_id": "5517342",
            "link_code": "K9D3WQ",
            "url": "https://www.claimxperience.com/l/K9D3WQ",
            "notification_access_method": "EMAIL",
            "created_date": None,
            "last_accessed": None,
            "accessed_count": None,
            **WRITE,
        }
    ]


def test_link_recipient_is_a_policyholder_without_primary_flag():
    assert task_entities().contacts == [
        {
            "project_id": "5517342",
            "contact_email": "elena.okafor@mail.example",
            "contact_type": "POLICYHOLDER",
            "first_name": "Elena",
            "last_name": "Okafor",
            "phone_number": "5550142277",
            "phone_country_code": 1,
            "task_assignment_id": 6021187,
            "last_enriched_at": FETCHED_TEXT,
            "created_date": "2026-02-04",
            **WRITE,
        }
    ]


def test_task_without_template_link_or_recipient_email():
    body = api_body("custom_task_assignment")
    del body["customTask"]
    body["externalLinkData"] = {"linkId": None, "email": " "}
    entities = task_entities(body)
    assert len(entities.tasks) == 1
    assert (entities.task_templates, entities.external_links, entities.contacts) == ([], [], [])


def test_task_under_data_and_missing_ids_fall_back_to_the_event():
    body = api_body("custom_task_assignment")
    del body["assignmentId"], body["projectId"]
    (task,) = task_entities({"data": body}).tasks
    assert (task["assignment_id"], task["project_id"]) == (6021187, "5517342")


def video_row(**changes: object) -> dict | None:
    item = {**api_body("data_video_collaboration")["data"][0], **changes}
    return rows.video_collab_row(item, STAMP, FETCHED)


def test_video_collab_row():
    assert video_row() == {
        "video_collaboration_id": 91377,
        "claim_id": 5517342,
        "number_of_videos": 3,
        "number_of_photos": 21,
        "number_of_viewers": 2,
        "session_count": 2,
        "company_id": 3305,
        "mfn": "HOCL_8K2P4Q",
        "claim_number": "NW-2026-00418",
        "policy_number": "POL-552190-03",
        "email_user_name": "r.haddad@carrier.example",
        "claim_rep_first_name": "Rana",
        "claim_rep_last_name": "Haddad",
        "claim_rep_full_name": "Rana Haddad",
        "total_time_seconds": "1587.25",
        "total_time": "00:26:27",
        "created_date": "2026-02-04T09:58:40Z",
        "live_call_first_session": "2026-02-04T10:00:20Z",
        "live_call_last_session": "2026-02-04T10:40:55Z",
        "company_name": "Northwind Mutual",
        "guid": "4c1e8a07-93b2-4f6d-a5e8-0d7c2b9f1e63",
        "last_enriched_at": FETCHED_TEXT,
        **WRITE,
    }


def test_video_collab_exact_decimals_given_name_and_id_alias():
    from decimal import Decimal

    row = video_row(totalTimeSeconds=Decimal("1587.250"), claimRepFullName="R. Haddad")
    assert row is not None
    assert row["total_time_seconds"] == "1587.250"
    assert row["claim_rep_full_name"] == "R. Haddad"
    aliased = video_row(videoCollaborationId=None, id="91378")
    assert aliased is not None and aliased["video_collaboration_id"] == 91378
    assert video_row(videoCollaborationId=None) is None


def all_rows() -> EntityRows:
    entities = project_entities().extend(task_entities())
    entities.media.extend(media_rows().values())
    entities.video_collab.append(video_row())
    entities.projects.append(rows.policyholder_row("POLICYHOLDER_INVITED", "1", INGESTED, STAMP))
    entities.projects.append(rows.policyholder_row("POLICYHOLDER_JOINED", "1", INGESTED, STAMP))
    entities.projects.append(rows.xa_autolink_failed_row("1", INGESTED, STAMP))
    return entities


def test_every_produced_key_is_a_declared_column():
    for key, produced in all_rows().items():
        declared = set(ENTITY_TABLES[key].column_names)
        for row in produced:
            unknown = {name for name in row if not name.startswith("_")} - declared
            assert not unknown, f"{key}: {sorted(unknown)} not declared"


def test_every_declared_column_is_produced_or_has_no_source():
    for key, produced in all_rows().items():
        keys = {name for row in produced for name in row}
        no_source = rows.NO_SOURCE.get(key, frozenset())
        missing = set(ENTITY_TABLES[key].column_names) - keys - no_source
        assert not missing, f"{key}: {sorted(missing)} neither produced nor listed as no source"
        for row in produced:
            assert all(row.get(name) is None for name in no_source)


def test_column_types_match_the_declaration():
    python_types = {
        "string": str,
        "timestamp": str,
        "date": str,
        "long": int,
        "double": float,
        "boolean": bool,
    }
    for key, produced in all_rows().items():
        types = ENTITY_TABLES[key].column_types()
        for row in produced:
            for name, value in row.items():
                if value is not None and not name.startswith("_"):
                    expected = python_types[types[name]]
                    assert type(value) is expected, f"{key}.{name}: {value!r} not {expected}"


def test_entities_message_shape():
    task = {"event_id": EVENT, "event_type": "PROJECT_CREATED", "project_id": "5517342"}
    message = rows.entities_message(task, project_entities())
    assert list(message) == [
        "event_id",
        "event_type",
        "project_id",
        "trace_id",
        *rows.ENTITY_KEYS,
    ]
    assert message["trace_id"] == EVENT and len(message["contacts"]) == 4
    assert message["media"] == []
