"""How both transfer workers route a failed store request (staging in the download worker,
promotion in the upload worker): a misconfigured store waits in place (`InplaceRetry` with
`storage_not_ready`); a permanent error is dead with a `failed_permanent` result; transient and
auth errors go to the tiers with a `failed_exhausted` result should the last tier fail too."""

from __future__ import annotations

from vpipe_core.outcome import Category, Dead, Outcome, Output, Retry
from vpipe_core.storage import ErrorCategory, UploadError
from vpipe_core.transfer import metrics
from vpipe_core.transfer.domain import (
    FAILED_EXHAUSTED,
    FAILED_PERMANENT,
    Message,
    TransferDomain,
    failure_report,
    result_output,
)


def storage_not_ready(exc: BaseException) -> str | None:
    """The `/readyz` reason while a store request waits in place, or None (not waited on)."""
    if isinstance(exc, UploadError) and exc.category is ErrorCategory.INFRASTRUCTURE:
        return "storage"
    return None


def store_failure(
    domain: TransferDomain, message: Message, exc: UploadError, attempt: int, step: str
) -> Outcome:
    """The outcome of `step` ("stage", "upload") failing with `exc` on the record's `attempt`
    for the task `message`."""
    metrics.upload_failures.labels(
        domain.name, str(exc.category), f"http_{exc.status}" if exc.status else "none"
    ).inc()
    if exc.category is ErrorCategory.PERMANENT:
        failed = _result(domain, message, FAILED_PERMANENT, exc, attempt)
        return Dead(str(exc), Category.PERMANENT, outputs=(failed,))
    if exc.category is ErrorCategory.INFRASTRUCTURE:  # the in-place wait ended
        return Retry(f"{step}: {exc}", Category.TRANSIENT)
    category = Category.AUTH if exc.category is ErrorCategory.AUTH else Category.TRANSIENT
    exhausted = _result(domain, message, FAILED_EXHAUSTED, exc, attempt + 1)
    return Retry(f"{step}: {exc}", category, if_exhausted=(exhausted,))


def _result(
    domain: TransferDomain, message: Message, status: str, exc: UploadError, retries: int
) -> Output:
    report = failure_report(status, retries, exc.status, str(exc.category), str(exc))
    return result_output(domain, message, report)
