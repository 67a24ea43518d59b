"""Buckets and topics that are private, encrypted with the environment's key and SSL-only."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct


def access_log_bucket(
    scope: Construct, id: str, *, expiry_days: int, removal_policy: RemovalPolicy
) -> s3.Bucket:
    # S3 server access logging cannot deliver to a bucket encrypted with a customer-managed KMS key,
    # so the log bucket uses S3-managed keys; it holds request metadata, never payloads.
    return s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[
            s3.LifecycleRule(
                expiration=Duration.days(expiry_days),
                noncurrent_version_expiration=Duration.days(1),
            )
        ],
        removal_policy=removal_policy,
    )


def payload_bucket_name(stack: Stack, resource_prefix: str, purpose: str) -> str:
    """Deterministic, so that other stacks of the environment import the bucket by name.

    A CloudFormation export would pin the producing stack: an in-use export can never change.
    """
    return f"{resource_prefix}-{purpose}-{stack.account}-{stack.region}"


def data_bucket(
    scope: Construct,
    id: str,
    *,
    bucket_name: str,
    key: kms.IKey,
    access_logs: s3.IBucket,
    expiry_days: int,
    removal_policy: RemovalPolicy,
) -> s3.Bucket:
    """A bucket for payloads: KMS with bucket keys, SSL only, access-logged, expiring."""
    return s3.Bucket(
        scope,
        id,
        bucket_name=bucket_name,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{id}/",
        lifecycle_rules=[
            s3.LifecycleRule(
                expiration=Duration.days(expiry_days),
                noncurrent_version_expiration=Duration.days(1),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
        removal_policy=removal_policy,
    )


def encrypted_topic(scope: Construct, id: str, *, key: kms.IKey, display_name: str) -> sns.Topic:
    return sns.Topic(scope, id, master_key=key, enforce_ssl=True, display_name=display_name)
