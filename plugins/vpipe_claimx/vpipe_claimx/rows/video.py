"""E4 (`POST /data`, report VIDEO_COLLABORATION) item → `claimx_video_collab` row (claimx.md §9)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vpipe_claimx.rows.entities import Row, Stamp
from vpipe_claimx.rows.values import timestamp, to_decimal_text, to_int, to_text

VIDEO = "video_collab"

_INT_FIELDS = {
    "claim_id": "claimId",
    "number_of_videos": "numberOfVideos",
    "number_of_photos": "numberOfPhotos",
    "number_of_viewers": "numberOfViewers",
    "session_count": "sessionCount",
    "company_id": "companyId",
}
_TEXT_FIELDS = {
    "mfn": "mfn",
    "claim_number": "claimNumber",
    "policy_number": "policyNumber",
    "email_user_name": "emailUserName",
    "claim_rep_first_name": "claimRepFirstName",
    "claim_rep_last_name": "claimRepLastName",
    "total_time": "totalTime",
    "created_date": "createdDate",
    "live_call_first_session": "liveCallFirstSession",
    "live_call_last_session": "liveCallLastSession",
    "company_name": "companyName",
    "guid": "guid",
}


def video_collab_row(item: Mapping[str, Any], stamp: Stamp, fetched_at: datetime) -> Row | None:
    """None when the item names no video collaboration id (nothing to merge on)."""
    raw_id = item.get("videoCollaborationId")
    video_id = to_int(item.get("id") if raw_id is None else raw_id, VIDEO, "video_collaboration_id")
    if video_id is None:
        return None
    texts = {column: to_text(item.get(name)) for column, name in _TEXT_FIELDS.items()}
    return {
        "video_collaboration_id": video_id,
        **{column: to_int(item.get(name), VIDEO, column) for column, name in _INT_FIELDS.items()},
        **texts,
        "claim_rep_full_name": to_text(item.get("claimRepFullName")) or _full_name(texts),
        "total_time_seconds": to_decimal_text(
            item.get("totalTimeSeconds"), VIDEO, "total_time_seconds"
        ),
        "last_enriched_at": timestamp(fetched_at),
        **stamp.columns(),
    }


def _full_name(texts: Mapping[str, str | None]) -> str | None:
    parts = (texts["claim_rep_first_name"], texts["claim_rep_last_name"])
    return " ".join(part for part in parts if part) or None
