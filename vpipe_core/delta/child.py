"""The Delta worker process's entry point: `python -m vpipe_core.delta.child <socket fd>`.

Started by `vpipe_core.delta.process.DeltaProcess`, which holds the other end of the socket.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection


def main(argv: list[str]) -> None:
    conn = Connection(int(argv[1]))
    from vpipe_core.delta import ops  # only this process imports deltalake

    ops.serve(conn)


if __name__ == "__main__":
    main(sys.argv)
