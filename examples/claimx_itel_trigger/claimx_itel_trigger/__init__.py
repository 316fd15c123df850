"""Example vpipe ClaimX plugin: the iTel cabinet task trigger (claimx.md §12).

For `CUSTOM_TASK_ASSIGNED`/`CUSTOM_TASK_COMPLETED` events whose task template is configured
(default 27019) the trigger publishes a tracking record to `itel.cabinet.task.tracking`
(`claimx_itel_trigger.plugin`). Its companion worker `itel-cabinet-tracking` consumes that topic
and, for completed tasks, publishes the parsed cabinet form to `itel.cabinet.completed`
(`claimx_itel_trigger.tracking`).
"""

__version__ = "1.0.0"
PLUGIN_NAME = "claimx_itel_trigger"
TRACKING_TOPIC = "itel.cabinet.task.tracking"
COMPLETED_TOPIC = "itel.cabinet.completed"
