"""File destinations: OneLake (ADLS Gen2 DFS) for production, a local directory for the demo.

The contract of every store: `store`; destinations and accepted paths: `paths`; the OneLake
uploader (part file, then rename): `onelake`, over the DFS client of `dfs_client`; the local
directory: `local`; choosing one from a URI: `make`.
"""

from vpipe_core.storage.dfs_client import build_service_client, classify_error
from vpipe_core.storage.local import FileStore
from vpipe_core.storage.make import make_store
from vpipe_core.storage.onelake import OneLakeUploader
from vpipe_core.storage.paths import parse_abfss, safe_relative_path
from vpipe_core.storage.store import ErrorCategory, Store, UploadError, UploadResult

__all__ = [
    "ErrorCategory",
    "FileStore",
    "OneLakeUploader",
    "Store",
    "UploadError",
    "UploadResult",
    "build_service_client",
    "classify_error",
    "make_store",
    "parse_abfss",
    "safe_relative_path",
]
