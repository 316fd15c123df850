"""What operators reach on a running worker: the health endpoints and state, the metrics port
plan and the Prometheus metrics."""
