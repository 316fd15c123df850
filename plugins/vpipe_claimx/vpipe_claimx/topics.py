"""ClaimX topic names (runtime.md §3, claimx.md §2)."""

RAW = "claimx.events.raw"
ENRICHMENT = "claimx.enrichment.pending"
ENTITIES = "claimx.entities.rows"
DOWNLOADS = "claimx.downloads.pending"
CACHED = "claimx.downloads.cached"
RESULTS = "claimx.downloads.results"
