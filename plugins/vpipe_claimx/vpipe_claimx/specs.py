"""ClaimX worker specs (cheap to import: handlers are named, not imported)."""

from vpipe_core.retry.scheduler import scheduler_spec

retry_scheduler = scheduler_spec("claimx", 8205)
