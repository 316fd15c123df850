"""Retry tiers, the DLQ envelope and the retry scheduler (runtime.md §5)."""
