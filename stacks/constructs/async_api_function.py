"""The function behind the async routes: submit, upload, status."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import ApiConfig
from stacks.constructs.async_endpoint import OUTPUT_PREFIX, AsyncInferenceEndpoint
from stacks.constructs.python_function import PythonFunction
from stacks.constructs.request_store import RequestStore
from stacks.nag import wildcard_resource


class AsyncApiFunction(Construct):
    """Submits async inferences to the model a request names, and reports their status and results.

    `catalog` is the environment's MODEL_CATALOG document (lambda/shared/inference_common/catalog.py);
    the function may invoke exactly the async endpoints in `endpoints`, no other.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: ApiConfig,
        catalog: str,
        endpoints: list[AsyncInferenceEndpoint],
        store: RequestStore,
        input_bucket: s3.IBucket,
        output_bucket: s3.IBucket,
        payload_key: kms.IKey,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        # "Default": CDK leaves it out of logical ids, so the function keeps the ids it had before
        # this construct existed (give this construct the id "AsyncApiHandler").
        self.handler = PythonFunction(
            self,
            "Default",
            name="async_api",
            description="Submits async inferences, reports their status and results",
            environment={
                "MODEL_CATALOG": catalog,
                "INPUT_BUCKET": input_bucket.bucket_name,
                "OUTPUT_BUCKET": output_bucket.bucket_name,
                "REQUESTS_TABLE": store.requests_table.table_name,
                "IDEMPOTENCY_TABLE": store.idempotency_table.table_name,
                "MAX_INLINE_BYTES": str(settings.max_inline_bytes),
                "PRESIGN_EXPIRY_SECONDS": str(settings.presign_expiry_seconds),
                "REQUEST_RECORD_TTL_DAYS": str(settings.request_record_ttl_days),
            },
            key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
            reserved_concurrency=settings.reserved_concurrency,
            failure_handling=(
                "Invoked synchronously by API Gateway: a failure is answered to the caller at once; "
                "an asynchronous-invocation dead-letter queue would never receive anything."
            ),
        )
        self.function = self.handler.function
        role = self.handler.role
        for endpoint in endpoints:
            endpoint.grant_invoke_async(role)
        store.grant_submit_and_read(role)
        requests_objects = input_bucket.arn_for_objects("requests/*")
        uploads_objects = input_bucket.arn_for_objects("uploads/*")
        outputs_objects = output_bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")
        for statement in (
            # Inline payloads, and the presigned POST that callers use for uploads: a presigned
            # request carries the signer's permissions, so the function must hold them itself.
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[requests_objects, uploads_objects]),
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[outputs_objects]),
            iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[payload_key.key_arn]),
        ):
            role.add_to_principal_policy(statement)
        Validations.of(role.node.find_child("DefaultPolicy").node.default_child).acknowledge(
            wildcard_resource(self, requests_objects, "Inline payloads are written as requests/<inference id>.json."),
            wildcard_resource(self, uploads_objects, "Callers upload large payloads through a presigned POST under uploads/."),
            wildcard_resource(self, outputs_objects, "Results are presigned per inference id under outputs/."),
        )
