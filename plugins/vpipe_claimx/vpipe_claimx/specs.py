"""ClaimX worker specs (cheap to import: handlers are named, not imported). claimx.md §2."""

from vpipe_claimx import topics
from vpipe_core.domain.specs import DomainTopics, DomainWorkers
from vpipe_core.retry.scheduler import scheduler_spec
from vpipe_core.spec import Kind, RetryMode, WorkerSpec

WORKERS = DomainWorkers(
    "claimx",
    DomainTopics(topics.RAW, topics.ENRICHMENT, topics.DOWNLOADS, topics.CACHED, topics.RESULTS),
)

poller = WORKERS.poller(8206)
ingester = WORKERS.ingester(8201)
delta_writer = WORKERS.delta_writer(
    8202, description="writes claimx_events from the raw events, exactly once"
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
downloader = WORKERS.download(
    8110,
    name="claimx-downloader",
    description="streams each media file and stages it in OneLake, refreshing expired links",
)
uploader = WORKERS.upload(
    8120,
    name="claimx-uploader",
    description="moves staged media into place in OneLake and reports them completed",
)
result_processor = WORKERS.result_processor(8204)
retry_scheduler = scheduler_spec("claimx", 8205, memory_max="512M")
table_maintenance = WORKERS.table_maintenance(8208)
