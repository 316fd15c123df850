"""Logging (runtime.md §9): JSON lines, redaction, dated log files with rotation and retention.

- `trace`: the trace id and record key a log line is about (context variables the loop sets).
- `formatting`: the redacted JSON and human-readable line formats.
- `files`: the dated, rotated, expiring log files.
- `setup`: `setup_logging`, which installs the console and file handlers with their level filter.
"""
