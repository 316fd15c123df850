"""S3 with real presigned URLs: moto in server mode on loopback."""

from __future__ import annotations

import logging
from typing import Any


class LocalS3:
    """`with LocalS3() as s3: url = s3.put("a/b.pdf", data, "application/pdf")`."""

    def __init__(self, bucket: str = "claims") -> None:
        self.bucket = bucket
        self.host = "127.0.0.1"
        self.port = 0  # known once started
        self._server: Any = None
        self.client: Any = None

    def start(self) -> LocalS3:
        import boto3
        from botocore.config import Config
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

        self._server = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
        self._server.start()
        host, self.port = self._server.get_host_and_port()
        self.client = boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{self.port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        self.client.create_bucket(Bucket=self.bucket)
        return self

    def put(self, key: str, body: bytes, content_type: str, expires_s: int = 3600) -> str:
        """Store an object; returns a presigned GET URL for it."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return self.presign(key, expires_s)

    def presign(self, key: str, expires_s: int = 3600) -> str:
        params = {"Bucket": self.bucket, "Key": key}
        url: str = self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_s
        )
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
