"""Everything about a failed record being tried again (runtime.md §4, §5), in one package.

- `backoff`: the one jittered exponential back-off (1 s doubling to 60 s, jitter 0.8 to 1.2)
  that every in-place retry waits by: the loop's seek-back, the outbox's resends, `inplace`.
- `router`: which tier topic a `Retry` goes to, and when a record goes to the DLQ instead.
- `topics`: tier and DLQ topic names and the per-domain delays.
- `envelope`: the `vpipe_` headers a tier or DLQ record carries.
- `scheduler`: the `<domain>-retry-scheduler` handler that redelivers due tier records.
- `retry_after`: a server's `Retry-After` header as a bounded delay.
- `inplace`: a concurrent handler retrying an infrastructure failure in its own thread.
- `dlq`: the operator tools behind `vpipe dlq` (read, replay, purge). They live here, not beside
  the CLI, because they read and write the envelope and topics defined here and nothing else does;
  `cli/dlq_cmd.py` only parses options and prints.

The producer outbox (`kafka/outbox.py`) stays with the Kafka client code: it is the delivery
barrier the loop commits by; only its resend delay comes from `backoff`.
"""
