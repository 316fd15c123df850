"""XACT worker specs (cheap to import: handlers are named, not imported). xact.md §2."""

from vpipe_core.retry.scheduler import scheduler_spec
from vpipe_core.spec import Kind, RetryMode, WorkerSpec
from vpipe_xact import topics

poller = WorkerSpec(
    name="xact-poller",
    domain="xact",
    handler="vpipe_xact.poller:build",
    config_check="vpipe_xact.poller:config_problems",
    output_topics=(topics.RAW,),
    kind=Kind.SOURCE,
    retry_mode=RetryMode.INPLACE,
    max_instances=1,
    port_base=8100,
    description="publishes new Eventhouse (or Event Hub, or sample) events to xact.events.raw",
)
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
    recommended_instances=2,
    port_base=8020,
    memory_max="1G",
    description="runs the enrichment plugins and turns each allowed URL into a download task",
)
result_processor = WorkerSpec(
    name="xact-result-processor",
    domain="xact",
    handler="vpipe_xact.result_processor:build",
    input_topics=(topics.RESULTS,),
    kind=Kind.BATCH,
    retry_mode=RetryMode.INPLACE,
    port_base=8102,
    memory_max="512M",
    description="merges download results into xact_attachments and xact_attachments_failed",
)
download = WorkerSpec(
    name="xact-download",
    domain="xact",
    handler="vpipe_xact.download:build",
    config_check="vpipe_core.transfer.cache_dir:cache_dir_problems",
    input_topics=(topics.DOWNLOADS,),
    output_topics=(topics.CACHED, topics.RESULTS),
    max_instances=10,
    recommended_instances=4,
    port_base=8000,
    memory_max="2G",
    cpu_quota="150%",
    description="streams each attachment into the shared cache",
)
upload = WorkerSpec(
    name="xact-upload",
    domain="xact",
    handler="vpipe_xact.upload:build",
    config_check="vpipe_core.transfer.cache_dir:cache_dir_problems",
    input_topics=(topics.CACHED,),
    output_topics=(topics.RESULTS, topics.DOWNLOADS),
    max_instances=10,
    recommended_instances=2,
    port_base=8010,
    memory_max="2G",
    cpu_quota="150%",
    description="uploads cached files to OneLake and reports them completed",
)
retry_scheduler = scheduler_spec("xact", 8103, memory_max="512M")
