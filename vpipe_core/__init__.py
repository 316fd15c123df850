"""vpipe core runtime: the processing loop, retries, DLQ, plugins and operations every worker uses.

Kept import-light on purpose: a worker imports only the modules it needs.
"""


def __getattr__(name: str) -> str:
    # The version is the installed distribution's (from git), read only when asked for.
    if name == "__version__":
        from vpipe_core.deploy.versions import core_version

        return core_version()
    raise AttributeError(f"module 'vpipe_core' has no attribute {name!r}")
