"""XACT worker specs (cheap to import: handlers are named, not imported). xact.md §2."""

from vpipe_core.retry.scheduler import scheduler_spec
from vpipe_core.spec import Kind, RetryMode, WorkerSpec
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
delta_writer = WorkerSpec(
    name="xact-delta-writer",
    domain="xact",
    handler="vpipe_xact.delta_writer:build",
    input_topics=(topics.RAW,),
    kind=Kind.BATCH,
    retry_mode=RetryMode.INPLACE,
    max_instances=10,
    port_base=8030,
    memory_max="1G",
    description="writes xact_events from the raw events, exactly once per record",
)
enricher = WorkerSpec(
    name="xact-enricher",
    domain="xact",
    handler="vpipe_xact.enricher:build",
    input_topics=(topics.ENRICHMENT,),
    output_topics=(topics.DOWNLOADS, topics.RESULTS),
    max_instances=10,
    port_base=8020,
    memory_max="1G",
    description="runs the enrichment plugins and turns each allowed URL into a download task",
)
retry_scheduler = scheduler_spec("xact", 8103, memory_max="512M")
