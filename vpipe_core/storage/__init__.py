"""File destinations: OneLake (ADLS Gen2 DFS) for production, a local directory for the demo."""

from vpipe_core.storage.onelake import (
    ErrorCategory,
    FileStore,
    OneLakeUploader,
    Store,
    UploadError,
    UploadResult,
    build_service_client,
    classify_error,
    make_store,
    parse_abfss,
    safe_relative_path,
)

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
