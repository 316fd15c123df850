"""Ingesters: events read from the source topic, dropped when their key was seen within the dedup
window (a key store that follows the partition, vpipe_core.state), published to the domain's
topics otherwise."""
