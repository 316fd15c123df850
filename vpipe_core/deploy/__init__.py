"""Deployment artefacts rendered from the installed workers and settings: systemd units, the
environment template, the port table, and the `vpipe status` probes."""
