"""Keys, buckets and log settings: private, encrypted with the environment's key, SSL-only."""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import StorageConfig


_NO_REPLICA = Acknowledgment(
    id="NIST.800.53.R5-S3BucketReplicationEnabled",
    reason=(
        "Objects are transient (they expire within days) and can be recreated by resubmitting or "
        "rebuilding; a replica would double the places that hold prompts, outputs and artifacts."
    ),
)
_LOG_TARGET = "This is the server access log target; logging it to itself would loop."


# CDK's RETAIN_ON_UPDATE_OR_DELETE renders DeletionPolicy RetainExceptOnCreate.
RETAINED = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE


def removal_policy_of(storage: StorageConfig) -> RemovalPolicy:
    """What happens to stateful resources (buckets, keys, tables, queues, log groups) with the stack.

    `retain` keeps them when the stack or the resource is deleted, but not when the stack's first
    create fails: CloudFormation's `RetainExceptOnCreate` then deletes them, so a retry does not
    stop at "already exists" on a named bucket or log group (CloudFormation user guide,
    "DeletionPolicy attribute"). Every retained resource of the project goes through here.
    """
    return RemovalPolicy.DESTROY if storage.removal_policy == "destroy" else RETAINED


def encryption_key(scope: Construct, id: str, *, description: str, removal_policy: RemovalPolicy) -> kms.Key:
    """A customer-managed key with rotation, usable by CloudWatch Logs for this account's log groups.

    CloudWatch Logs calls KMS as the regional service principal, always with the log group's ARN as
    encryption context; the condition keeps other accounts' log groups from using the key
    (CloudWatch Logs user guide, "Encrypt log data in CloudWatch Logs using AWS Key Management Service").
    """
    key = kms.Key(scope, id, description=description, enable_key_rotation=True, removal_policy=removal_policy)
    stack = Stack.of(scope)
    log_groups = stack.format_arn(
        service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsUseKey",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
        )
    )
    return key


def empties_on_delete(removal_policy: RemovalPolicy) -> bool:
    """A bucket that is destroyed with its stack must be emptied first, or CloudFormation fails to
    delete it (BucketNotEmpty), versions and delete markers included.

    CDK's `auto_delete_objects` adds one custom resource per stack (a Lambda function and its role)
    that, when the bucket is removed, first denies new `s3:PutObject` in the bucket policy (so
    late server access logs cannot refill it) and then deletes every object version and delete
    marker (aws-cdk-lib, `aws-s3/lib/auto-delete-objects-handler`). Retained buckets keep it off.
    """
    return removal_policy == RemovalPolicy.DESTROY


def access_log_bucket(
    scope: Construct, id: str, *, expiry_days: int, removal_policy: RemovalPolicy
) -> s3.Bucket:
    # S3 server access logging cannot deliver to a bucket encrypted with a customer-managed KMS key,
    # so the log bucket uses S3-managed keys; it holds request metadata, never payloads.
    bucket = s3.Bucket(
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
        auto_delete_objects=empties_on_delete(removal_policy),
    )
    Validations.of(bucket.node.default_child).acknowledge(
        Acknowledgment(id="AwsSolutions-S1", reason=_LOG_TARGET),
        Acknowledgment(id="NIST.800.53.R5-S3BucketLoggingEnabled", reason=_LOG_TARGET),
        Acknowledgment(
            id="NIST.800.53.R5-S3DefaultEncryptionKMS",
            reason="S3 server access logging cannot deliver to buckets encrypted with a customer-managed key.",
        ),
        _NO_REPLICA,
    )
    return bucket


def payload_bucket_name(stack: Stack, resource_prefix: str, purpose: str) -> str:
    """Deterministic, so that other stacks of the environment import the bucket by name.

    A CloudFormation export would pin the producing stack: an in-use export can never change.
    """
    return f"{resource_prefix}-{purpose}-{stack.account}-{stack.region}"


def _private_bucket(
    scope: Construct,
    id: str,
    *,
    bucket_name: str,
    key: kms.IKey,
    access_logs: s3.IBucket,
    lifecycle_rule: s3.LifecycleRule,
    removal_policy: RemovalPolicy,
) -> s3.Bucket:
    """KMS with bucket keys, SSL only, versioned, owner-enforced, access-logged, emptied on destroy."""
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
        lifecycle_rules=[lifecycle_rule],
        removal_policy=removal_policy,
        auto_delete_objects=empties_on_delete(removal_policy),
    )


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
    bucket = _private_bucket(
        scope,
        id,
        bucket_name=bucket_name,
        key=key,
        access_logs=access_logs,
        lifecycle_rule=s3.LifecycleRule(
            expiration=Duration.days(expiry_days),
            noncurrent_version_expiration=Duration.days(1),
            abort_incomplete_multipart_upload_after=Duration.days(1),
        ),
        removal_policy=removal_policy,
    )
    Validations.of(bucket.node.default_child).acknowledge(_NO_REPLICA)
    return bucket


def model_bucket(
    scope: Construct,
    id: str,
    *,
    bucket_name: str,
    key: kms.IKey,
    access_logs: s3.IBucket,
    removal_policy: RemovalPolicy,
) -> s3.Bucket:
    """Model files mirrored from the Hub (`llm-infer mirror`): KMS, SSL only, versioned, access-logged.

    Current versions never expire: a catalog entry points at them. An overwritten or deleted file
    stays restorable for 30 days as a noncurrent version.
    """
    bucket = _private_bucket(
        scope,
        id,
        bucket_name=bucket_name,
        key=key,
        access_logs=access_logs,
        lifecycle_rule=s3.LifecycleRule(
            noncurrent_version_expiration=Duration.days(30),
            abort_incomplete_multipart_upload_after=Duration.days(1),
        ),
        removal_policy=removal_policy,
    )
    Validations.of(bucket.node.default_child).acknowledge(
        Acknowledgment(
            id="NIST.800.53.R5-S3BucketReplicationEnabled",
            reason="Mirrored model files can be mirrored again from the Hub at the same pinned revision.",
        )
    )
    return bucket


def acknowledge_no_replica(bucket: s3.IBucket) -> None:
    """For buckets created elsewhere (CDK Pipelines' artifacts) that hold only rebuildable objects."""
    Validations.of(bucket.node.default_child).acknowledge(_NO_REPLICA)


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs accepts only these retention periods; config validates against the same list."""
    return _RETENTION[days]
