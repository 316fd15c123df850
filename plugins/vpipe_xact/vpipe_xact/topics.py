"""XACT topic names (runtime.md §3)."""

RAW = "xact.events.raw"
ENRICHMENT = "xact.enrichment.pending"
DOWNLOADS = "xact.downloads.pending"
CACHED = "xact.downloads.cached"
RESULTS = "xact.downloads.results"
