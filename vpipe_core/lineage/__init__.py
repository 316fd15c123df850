"""Following one event end to end (DEPLOYMENT.md, "Follow one event").

- `traceparent`: the W3C `traceparent` header every record derived from an event carries.
- `carry`: copying it from a consumed record to the outputs made from it.
- `spans`: whether OpenTelemetry spans are on (read once at start); `otel`: the spans, through
  the OpenTelemetry SDK, imported only when they are on.
"""
