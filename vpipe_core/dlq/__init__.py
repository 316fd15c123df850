"""Reading, replaying and purging a domain's dead-letter topic (runtime.md §5)."""
