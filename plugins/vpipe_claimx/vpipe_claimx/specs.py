"""ClaimX worker specs (cheap to import: handlers are named, not imported). claimx.md §2."""

from vpipe_claimx import topics
from vpipe_core.retry.scheduler import scheduler_spec
from vpipe_core.spec import Kind, RetryMode, WorkerSpec

poller = WorkerSpec(
    name="claimx-poller",
    domain="claimx",
    handler="vpipe_claimx.poller:build",
    config_check="vpipe_claimx.poller:config_problems",
    output_topics=(topics.RAW,),
    kind=Kind.SOURCE,
    retry_mode=RetryMode.INPLACE,
    port_base=8200,
    description="publishes new Eventhouse (or Event Hub, or sample) events to claimx.events.raw",
)
ingester = WorkerSpec(
    name="claimx-ingester",
    domain="claimx",
    handler="vpipe_claimx.ingester:build",
    input_topics=(topics.RAW,),
    output_topics=(topics.ENRICHMENT,),
    retry_mode=RetryMode.INPLACE,
    port_base=8201,
    description="validates raw events, drops duplicates, emits enrichment tasks",
)
delta_writer = WorkerSpec(
    name="claimx-delta-writer",
    domain="claimx",
    handler="vpipe_claimx.delta_writer:build",
    input_topics=(topics.RAW,),
    kind=Kind.BATCH,
    retry_mode=RetryMode.INPLACE,
    port_base=8202,
    memory_max="1G",
    description="writes claimx_events from the raw events, exactly once",
)
enricher = WorkerSpec(
    name="claimx-enricher",
    domain="claimx",
    handler="vpipe_claimx.enricher:build",
    input_topics=(topics.ENRICHMENT,),
    output_topics=(topics.ENTITIES, topics.DOWNLOADS),
    kind=Kind.BATCH,
    max_instances=10,
    recommended_instances=2,
    port_base=8130,
    memory_max="1G",
    description="calls the ClaimX API per event, emits entity rows and media download tasks",
)
entity_writer = WorkerSpec(
    name="claimx-entity-writer",
    domain="claimx",
    handler="vpipe_claimx.entity_writer:build",
    input_topics=(topics.ENTITIES,),
    kind=Kind.BATCH,
    retry_mode=RetryMode.INPLACE,
    port_base=8203,
    memory_max="1G",
    description="merges entity rows into the seven ClaimX entity tables, exactly once",
)
downloader = WorkerSpec(
    name="claimx-downloader",
    domain="claimx",
    handler="vpipe_claimx.download:build",
    config_check="vpipe_core.transfer.cache_dir:cache_dir_problems",
    input_topics=(topics.DOWNLOADS,),
    output_topics=(topics.CACHED, topics.RESULTS),
    max_instances=10,
    recommended_instances=4,
    port_base=8110,
    memory_max="2G",
    cpu_quota="150%",
    description="streams each media file into the shared cache, refreshing expired links",
)
uploader = WorkerSpec(
    name="claimx-uploader",
    domain="claimx",
    handler="vpipe_claimx.upload:build",
    config_check="vpipe_core.transfer.cache_dir:cache_dir_problems",
    input_topics=(topics.CACHED,),
    output_topics=(topics.RESULTS, topics.DOWNLOADS),
    max_instances=10,
    recommended_instances=2,
    port_base=8120,
    memory_max="2G",
    cpu_quota="150%",
    description="uploads cached media to OneLake and reports them completed",
)
result_processor = WorkerSpec(
    name="claimx-result-processor",
    domain="claimx",
    handler="vpipe_claimx.result_processor:build",
    input_topics=(topics.RESULTS,),
    kind=Kind.BATCH,
    retry_mode=RetryMode.INPLACE,
    port_base=8204,
    memory_max="512M",
    description="merges download results into claimx_attachments and claimx_attachments_failed",
)
retry_scheduler = scheduler_spec("claimx", 8205, memory_max="512M")
