"""XACT worker specs (cheap to import: handlers are named, not imported). xact.md §2."""

from vpipe_core.retry.scheduler import scheduler_spec
from vpipe_core.spec import RetryMode, WorkerSpec
from vpipe_xact import topics

event_ingester = WorkerSpec(
    name="xact-event-ingester",
    domain="xact",
    handler="vpipe_xact.ingester:build",
    input_topics=(topics.RAW,),
    output_topics=(topics.ENRICHMENT,),
    retry_mode=RetryMode.INPLACE,
    port_base=8101,
    description="validates raw events, drops duplicates, emits enrichment tasks",
)
retry_scheduler = scheduler_spec("xact", 8103, memory_max="512M")
