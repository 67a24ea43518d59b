"""S3 URIs (`s3://bucket/key`) as values: parsed once, compared by bucket and key prefix."""

from __future__ import annotations

from dataclasses import dataclass

_SCHEME = "s3://"
# The endpoint config's S3OutputPath is s3://<output bucket>/outputs/ (S3FailurePath: failures/).
OUTPUTS_PREFIX = "outputs/"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """Raise ValueError unless `uri` is `s3://<bucket>/<non-empty key>`."""
        if not uri.startswith(_SCHEME):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[len(_SCHEME) :].partition("/")
        if not bucket or not key:
            raise ValueError(f"an s3:// URI needs a bucket and a key: {uri!r}")
        return cls(bucket=bucket, key=key)

    def is_under(self, bucket: str, prefix: str) -> bool:
        return self.bucket == bucket and self.key.startswith(prefix) and len(self.key) > len(prefix)

    def __str__(self) -> str:
        return f"{_SCHEME}{self.bucket}/{self.key}"
