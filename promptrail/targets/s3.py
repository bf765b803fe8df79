"""The ``s3`` target: one JSON bundle per prompt under ``s3://bucket/prefix/``, on AWS S3 or
any S3-compatible object store (MinIO, Ceph, R2...) through ``endpoint_url``::

    targets:
      - {kind: s3, bucket: acme-prompts, prefix: production, endpoint_url: https://minio.internal:9000}

Optional keys: ``region``, ``timeout`` (seconds per request, default 10). Credentials come from
boto3's own chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance
role), never from promptrail.yaml. It needs the ``s3`` extra; boto3 is imported only when an s3 target is used. Each bundle is one PUT,
and S3 replaces an object whole, so a reader sees the old bundle or the new one. Any failure
to reach the bucket is a ``TargetError`` (exit 3 for deploy, promote and drift).
"""

from __future__ import annotations

import json
from typing import Any

from promptrail.errors import UsageError
from promptrail.targets import Target, TargetError

KEYS = {"kind", "bucket", "prefix", "endpoint_url", "region", "timeout"}


class S3Target(Target):
    kind = "s3"

    def __init__(self, spec: dict[str, Any], ws: Any) -> None:
        super().__init__(spec, ws)
        unknown = sorted(set(spec) - KEYS)
        if unknown:
            raise UsageError(
                f"unknown key(s) {', '.join(map(repr, unknown))} in an s3 target "
                f"(known: {', '.join(sorted(KEYS))})",
                file="promptrail.yaml",
            )
        if not spec.get("bucket"):
            raise UsageError("an s3 target needs a `bucket`", file="promptrail.yaml")
        self.bucket = str(spec["bucket"])
        self.prefix = str(spec.get("prefix") or "").strip("/")
        self._client: Any = None

    @property
    def label(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}.json" if self.prefix else f"{name}.json"

    @property
    def client(self) -> Any:
        if self._client is None:
            from promptrail.extras import require

            boto3 = require("boto3", "s3", "the s3 target")
            Config = require("botocore.config", "s3", "the s3 target").Config  # noqa: N806
            timeout = float(self.spec.get("timeout") or 10)
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.spec.get("endpoint_url") or None,
                region_name=self.spec.get("region") or None,
                config=Config(
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    retries={"max_attempts": 2, "mode": "standard"},
                ),
            )
        return self._client

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise TargetError(
                f"{self.label}: {what}: {err.get('Code', '?')} {err.get('Message', '')}".strip(),
                kind="unreachable",
            ) from None
        except BotoCoreError as exc:
            raise TargetError(f"{self.label}: {what}: {exc}", kind="unreachable") from None

    def deploy(self, bundle: dict[str, Any]) -> None:
        body = json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        self._call(
            "put",
            self.client.put_object,
            Key=self.key(bundle["name"]),
            Body=body.encode(),
            ContentType="application/json",
        )

    def remove(self, name: str) -> None:
        self._call("delete", self.client.delete_object, Key=self.key(name))

    def names(self) -> list[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        out, token = [], None
        while True:
            extra: dict[str, Any] = {"ContinuationToken": token} if token else {}
            page = self._call("list", self.client.list_objects_v2, Prefix=start, **extra)
            for obj in page.get("Contents") or []:
                rest = obj["Key"][len(start) :]
                if rest.endswith(".json") and "/" not in rest:
                    out.append(rest[: -len(".json")])
            if not page.get("IsTruncated"):
                return sorted(out)
            token = page.get("NextContinuationToken")

    def deployed(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name in self.names():
            raw = self._call("get", self.client.get_object, Key=self.key(name))["Body"].read()
            try:
                data = json.loads(raw)
            except ValueError:
                data = {"name": name, "content_hash": "unreadable", "messages": None}
            if not isinstance(data, dict):
                raise TargetError(f"{self.label}/{name}.json is not a bundle", kind="garbage")
            out[name] = data  # by where it is, not what it claims to be
        return out

    def fetch(self, name: str, stamp: str | None = None) -> tuple[str, bytes | None]:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Key": self.key(name)}
        if stamp:
            kwargs["IfNoneMatch"] = stamp
        try:
            resp = self.client.get_object(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if stamp and (status == 304 or code == "304"):
                return stamp, None
            raise TargetError(f"{self.label}/{name}.json: {code}", kind="unreachable") from None
        except Exception as exc:  # botocore's connection errors
            raise TargetError(f"{self.label}/{name}.json: {exc}", kind="unreachable") from None
        return str(resp.get("ETag") or ""), resp["Body"].read()
