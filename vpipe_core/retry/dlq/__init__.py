"""Reading, replaying and purging a domain's dead-letter topic (runtime.md §5): the operator
side of the DLQ whose records `vpipe_core.retry.router` writes."""
