"""Example vpipe enrichment plugin: act on chosen XACT status subtypes (xact.md §9).

On a matching ``status_subtype`` a trigger publishes a notification record, POSTs it to a
webhook and/or logs a line. The hook implementations are in `xact_status_trigger.plugin`, which
is what the ``vpipe.plugins`` entry point names.
"""

__version__ = "1.0.0"
PLUGIN_NAME = "xact_status_trigger"
