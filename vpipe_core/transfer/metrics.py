"""Transfer metrics (runtime.md §10), registered in the registry `/metrics` serves."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from vpipe_core.ops.metrics import REGISTRY

_SIZE_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

download_bytes = Counter(
    "vpipe_download_bytes_total", "Bytes downloaded into the cache", ["domain"], registry=REGISTRY
)
upload_bytes = Counter(
    "vpipe_upload_bytes_total", "Bytes uploaded to the file store", ["domain"], registry=REGISTRY
)
download_seconds = Histogram(
    "vpipe_download_seconds",
    "Time per successful download",
    ["domain"],
    buckets=_SIZE_BUCKETS,
    registry=REGISTRY,
)
upload_seconds = Histogram(
    "vpipe_upload_seconds",
    "Time per successful upload",
    ["domain"],
    buckets=_SIZE_BUCKETS,
    registry=REGISTRY,
)
download_failures = Counter(
    "vpipe_download_failures_total",
    "Failed download attempts",
    ["domain", "category", "reason"],
    registry=REGISTRY,
)
upload_failures = Counter(
    "vpipe_upload_failures_total",
    "Failed upload attempts",
    ["domain", "category", "reason"],
    registry=REGISTRY,
)
url_refreshes = Counter(
    "vpipe_url_refreshes_total",
    "Download link refreshes, by result (ok, gone, error)",
    ["result"],
    registry=REGISTRY,
)
cache_free_bytes = Gauge(
    "vpipe_cache_free_bytes", "Free bytes on the cache filesystem", ["path"], registry=REGISTRY
)
cache_cleaned_files = Counter(
    "vpipe_cache_cleaned_files_total",
    "Stale cache files removed by the cleaner",
    ["domain"],
    registry=REGISTRY,
)
