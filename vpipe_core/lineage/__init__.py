"""Following one event end to end (DEPLOYMENT.md, "Follow one event").

- `traceparent`: the W3C `traceparent` header every record derived from an event carries.
- `carry`: copying it from a consumed record to the outputs made from it.
"""
