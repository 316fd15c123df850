"""Example vpipe ClaimX plugin: mitigation task tracking (claimx.md §12).

When a water (template 25367) or fire/smoke (24454) mitigation task is completed, the plugin
loads the task's form and media through the enricher's ClaimX client and publishes one flat
record per task to a configured topic (`claimx_mitigation_tracker.plugin`).
"""

__version__ = "1.0.0"
PLUGIN_NAME = "claimx_mitigation_tracker"
TEMPLATE_IDS = (25367, 24454)
DEFAULT_TOPIC = "claimx.mitigation.task.completed"
