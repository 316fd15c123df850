"""Event sources shared by every domain's poller (a `Kind.SOURCE` worker).

A domain describes what it reads and how a row becomes a message (`domain.DomainSource`);
`build.build_source` turns that description into one of three `vpipe_core.loop.source` Sources:
the Eventhouse table (`eventhouse_source`), an Event Hub over its Kafka endpoint (`eventhub`)
or a sample file replay (`sample`). Shared variables live in `settings.EventSourceSettings`.
Modules import their heavy clients lazily, so a poller imports only the source it uses.
"""
