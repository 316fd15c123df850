"""Ingesters: events read from the source topic, dropped when their key was seen within the dedup
window (kept on disk), published to the domain's topics otherwise."""
