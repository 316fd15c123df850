"""vpipe core runtime: the processing loop, retries, DLQ, plugins and operations every worker uses.

Kept import-light on purpose: a worker imports only the modules it needs.
"""

__version__ = "0.1.0"
