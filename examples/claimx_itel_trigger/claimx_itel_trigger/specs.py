"""The companion worker's spec (cheap to import: the handler is named, not imported)."""

from claimx_itel_trigger import COMPLETED_TOPIC, TRACKING_TOPIC
from vpipe_core.spec import Kind, RetryMode, WorkerSpec

#: The consumer group the earlier tracking worker used; worker names cannot contain '_', so
#: deployments that keep its committed offsets start the worker with `--group` (see README).
LEGACY_GROUP = "itel_cabinet_tracking_group"

tracking_worker = WorkerSpec(
    name="itel-cabinet-tracking",
    domain="claimx",
    handler="claimx_itel_trigger.tracking:build",
    input_topics=(TRACKING_TOPIC,),
    output_topics=(COMPLETED_TOPIC,),
    kind=Kind.RECORD,
    retry_mode=RetryMode.TIERS,
    max_instances=2,
    port_base=8310,
    description="iTel cabinet tasks: on COMPLETED, parses the form and publishes it",
)
