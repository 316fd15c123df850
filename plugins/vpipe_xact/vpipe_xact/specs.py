"""XACT worker specs (cheap to import: handlers are named, not imported). xact.md §2."""

from vpipe_core.domain.specs import DomainTopics, DomainWorkers
from vpipe_core.retry.scheduler import scheduler_spec
from vpipe_core.spec import WorkerSpec
from vpipe_xact import topics

WORKERS = DomainWorkers(
    "xact",
    DomainTopics(topics.RAW, topics.ENRICHMENT, topics.DOWNLOADS, topics.CACHED, topics.RESULTS),
)

poller = WORKERS.poller(8104)
event_ingester = WORKERS.ingester(8101, name="xact-event-ingester")
delta_writer = WORKERS.delta_writer(
    8030,
    max_instances=10,
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
result_processor = WORKERS.result_processor(8102)
download = WORKERS.download(8000, description="streams each attachment and stages it in OneLake")
upload = WORKERS.upload(
    8010, description="moves staged files into place in OneLake and reports them completed"
)
retry_scheduler = scheduler_spec("xact", 8103, memory_max="512M")
table_maintenance = WORKERS.table_maintenance(8106)
