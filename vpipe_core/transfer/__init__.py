"""File transfers shared by the domains: URL policy, pre-flight checks and the downloader.

Domain-neutral: allow-lists, extensions and content-type rules are passed in by the domains.
Importing this package is cheap; `download` (and with it urllib3) is imported only by the
workers that transfer files:

- `policy`: `UrlPolicy.check(url)` (scheme, exact host allow-list, non-public addresses).
- `presigned`: expiry of presigned S3 and Azure SAS URLs.
- `rules`: allowed extensions and accepted content types, overridable by a JSON file.
- `download`: `Downloader.download(url, media_id, dest_relative)` into the local cache
  (the download worker then stages the file in the destination store, `download_worker`).
"""
