"""The environment's HTTP API: submit and track async inferences, record their notifications."""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.async_inference_stack import AsyncInferenceStack
from stacks.config import EnvironmentConfig
from stacks.constructs.async_endpoint import OUTPUT_PREFIX
from stacks.constructs.python_function import PythonFunction
from stacks.constructs.alarms import notify_when
from stacks.constructs.secure_storage import (
    RETAINED,
    encryption_key,
    log_retention,
    payload_bucket_name,
    removal_policy_of,
)
from stacks.nag import wildcard_resource
from stacks.streaming_stack import StreamingStack

API_STAGE = "api"
# The AWS account that publishes the Lambda Web Adapter layer in every commercial region.
WEB_ADAPTER_ACCOUNT = "753240598075"
# Every error API Gateway answers itself (auth, throttling, validation) gets the API's error shape.
_ERROR_TEMPLATE = json.dumps(
    {"error": {"code": "$context.error.responseType", "message": "$context.error.messageString"}}
).replace('"$context.error.messageString"', "$context.error.messageString")
# Inline request bodies are checked for shape here; the function gives the precise 4xx for the rest.
_SUBMIT_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    type=apigw.JsonSchemaType.OBJECT,
    properties={
        "parameters": apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT),
        "input_location": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING),
        "request_ttl_seconds": apigw.JsonSchema(type=apigw.JsonSchemaType.INTEGER, minimum=60, maximum=21600),
        "invocation_timeout_seconds": apigw.JsonSchema(type=apigw.JsonSchemaType.INTEGER, minimum=1, maximum=3600),
    },
)


def _invoker_policy(accounts: list[str]) -> iam.PolicyDocument | None:
    """Let IAM principals of other accounts call the API; each still needs its own IAM permission.

    With IAM authorization, a caller in another account needs both this resource policy and an
    identity policy; callers in the API's own account need only their identity policy.
    """
    if not accounts:
        return None
    return iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                actions=["execute-api:Invoke"],
                principals=[iam.AccountPrincipal(account) for account in accounts],
                resources=["execute-api:/*"],
            )
        ]
    )


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EnvironmentConfig,
        async_inference: AsyncInferenceStack,
        streaming: StreamingStack | None,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        settings, storage = config.api, config.storage
        removal = removal_policy_of(storage)
        retention = log_retention(storage.log_retention_days)
        endpoint = async_inference.endpoint
        # Imported by name (see payload_bucket_name): no export ties this stack to the other.
        self.input_bucket = s3.Bucket.from_bucket_name(
            self, "InputBucket", payload_bucket_name(self, config.resource_prefix, "input")
        )
        self.output_bucket = s3.Bucket.from_bucket_name(
            self, "OutputBucket", payload_bucket_name(self, config.resource_prefix, "output")
        )

        self.key = encryption_key(
            self,
            "Key",
            description=f"{config.resource_prefix}: request records, notification queues, API logs",
            removal_policy=removal,
        )
        self.requests_table = self._table(
            "Requests", key="inference_id", ttl="expires_at", pitr=settings.point_in_time_recovery, removal=removal
        )
        # Powertools idempotency records: the first answer to each (caller, Idempotency-Key).
        self.idempotency_table = self._table(
            "Idempotency", key="id", ttl="expiration", pitr=settings.point_in_time_recovery, removal=RemovalPolicy.DESTROY
        )
        self._acknowledge_table_findings(settings.point_in_time_recovery)

        self._add_notifications(config, async_inference, retention, removal)
        self.api_function = self._add_api_function(config, async_inference, retention, removal)
        self.streaming_function = (
            self._add_streaming_function(config, streaming, retention, removal) if streaming else None
        )
        self.api = self._add_rest_api(config, retention, removal)

        self.api_url_output = CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "RequestsTableName", value=self.requests_table.table_name)
        CfnOutput(self, "NotificationQueueUrl", value=self.notification_queue.queue_url)
        CfnOutput(self, "EndpointName", value=endpoint.endpoint_name)

    def _add_notifications(self, config, async_inference, retention, removal) -> None:
        self.dead_letters = sqs.Queue(
            self,
            "NotificationDeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal,
        )
        function_timeout = Duration.seconds(30)
        self.notification_queue = sqs.Queue(
            self,
            "Notifications",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            # Lambda's guidance: at least six times the consumer's timeout.
            visibility_timeout=Duration.seconds(function_timeout.to_seconds() * 6),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=5),
            removal_policy=removal,
        )
        for topic in (async_inference.success_topic, async_inference.error_topic):
            topic.add_subscription(subscriptions.SqsSubscription(self.notification_queue))

        self.notification_function = PythonFunction(
            self,
            "NotificationHandler",
            name="notifications",
            description="Records async inference results from SageMaker's SNS notifications",
            environment={
                "REQUESTS_TABLE": self.requests_table.table_name,
                "OUTPUT_BUCKET": self.output_bucket.bucket_name,
                # Expiry of a record that a notification creates before its submit claims it.
                "REQUEST_RECORD_TTL_DAYS": str(config.api.request_record_ttl_days),
            },
            key=self.key,
            log_retention=retention,
            removal_policy=removal,
            reserved_concurrency=config.api.reserved_concurrency,
            timeout=function_timeout,
            failure_handling=(
                "Invoked by an SQS event source mapping: failed messages return to the queue and, after "
                "five receives, go to the queue's dead-letter queue, which alarms."
            ),
        )
        self.notification_function.function.add_event_source(
            event_sources.SqsEventSource(self.notification_queue, batch_size=10, report_batch_item_failures=True)
        )
        self.notification_function.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[self.requests_table.table_arn])
        )
        self.key.grant(self.notification_function.role, "kms:Decrypt", "kms:GenerateDataKey")

        notify_when(
            self,
            "DeadLettersNotEmpty",
            description="Inference notifications could not be recorded: their requests look InProgress",
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            recipients=async_inference.alarm_recipients,
        )

    def _add_api_function(self, config, async_inference, retention, removal) -> PythonFunction:
        settings = config.api
        function = PythonFunction(
            self,
            "AsyncApiHandler",
            name="async_api",
            description="Submits async inferences, reports their status and results",
            environment={
                "ENDPOINT_NAME": async_inference.endpoint.endpoint_name,
                "INPUT_BUCKET": self.input_bucket.bucket_name,
                "OUTPUT_BUCKET": self.output_bucket.bucket_name,
                "REQUESTS_TABLE": self.requests_table.table_name,
                "IDEMPOTENCY_TABLE": self.idempotency_table.table_name,
                "MAX_INLINE_BYTES": str(settings.max_inline_bytes),
                "PRESIGN_EXPIRY_SECONDS": str(settings.presign_expiry_seconds),
                "REQUEST_RECORD_TTL_DAYS": str(settings.request_record_ttl_days),
            },
            key=self.key,
            log_retention=retention,
            removal_policy=removal,
            reserved_concurrency=settings.reserved_concurrency,
            failure_handling=(
                "Invoked synchronously by API Gateway: a failure is answered to the caller at once; "
                "an asynchronous-invocation dead-letter queue would never receive anything."
            ),
        )
        role = function.role
        async_inference.endpoint.grant_invoke_async(role)
        requests_objects = self.input_bucket.arn_for_objects("requests/*")
        uploads_objects = self.input_bucket.arn_for_objects("uploads/*")
        outputs_objects = self.output_bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")
        for statement in (
            # Inline payloads, and the presigned POST that callers use for uploads: a presigned
            # request carries the signer's permissions, so the function must hold them itself.
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[requests_objects, uploads_objects]),
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[outputs_objects]),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[self.requests_table.table_arn]
            ),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[self.idempotency_table.table_arn],
            ),
            iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[async_inference.key.key_arn]),
        ):
            role.add_to_principal_policy(statement)
        self.key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
        Validations.of(role.node.find_child("DefaultPolicy").node.default_child).acknowledge(
            wildcard_resource(self, requests_objects, "Inline payloads are written as requests/<inference id>.json."),
            wildcard_resource(self, uploads_objects, "Callers upload large payloads through a presigned POST under uploads/."),
            wildcard_resource(self, outputs_objects, "Results are presigned per inference id under outputs/."),
        )
        return function

    def _add_streaming_function(self, config, streaming: StreamingStack, retention, removal) -> PythonFunction:
        """The token-streaming front: an ASGI app run by the Lambda Web Adapter in response-stream mode."""
        settings = config.streaming
        endpoint = streaming.endpoint
        adapter = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "WebAdapterLayer",
            f"arn:{self.partition}:lambda:{self.region}:{WEB_ADAPTER_ACCOUNT}:layer:LambdaAdapterLayerX86:"
            f"{settings.web_adapter_layer_version}",
        )
        function = PythonFunction(
            self,
            "StreamingHandler",
            name="streaming",
            description="Relays generated tokens from the streaming endpoint as server-sent events",
            handler="run.sh",
            layers=[adapter],
            environment={
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                "AWS_LWA_INVOKE_MODE": "response_stream",
                "AWS_LWA_PORT": "8080",
                "AWS_LWA_READINESS_CHECK_PATH": "/healthz",
                "ENDPOINT_NAME": endpoint.endpoint_name,
                "INFERENCE_COMPONENT_NAME": endpoint.inference_component_name,
                "CONTAINER_FORMAT": settings.container_format,
                "UPSTREAM_READ_TIMEOUT_SECONDS": str(settings.upstream_read_timeout_seconds),
            },
            key=self.key,
            log_retention=retention,
            removal_policy=removal,
            reserved_concurrency=config.api.reserved_concurrency,
            # Ends before the route's integration timeout, even after a cold start (stream budget).
            timeout=Duration.seconds(settings.budget.function_timeout_seconds),
            memory_size=1024,
            failure_handling=(
                "Invoked synchronously by API Gateway with a response stream: a failure reaches the caller "
                "as an error status or an 'error' event at once."
            ),
        )
        endpoint.grant_invoke_with_response_stream(function.role)
        return function

    def _add_rest_api(self, config, retention, removal) -> apigw.RestApi:
        settings = config.api
        access_logs = logs.LogGroup(
            self, "ApiAccessLogs", retention=retention, encryption_key=self.key, removal_policy=removal
        )
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{config.resource_prefix}-inference",
            description=f"{config.stage_name}: async inference API (IAM auth)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution logging needs API Gateway's account-level CloudWatch role. Every API in the
            # account and region logs through it, so it outlives this stack.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RETAINED,
            deploy_options=apigw.StageOptions(
                stage_name=API_STAGE,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True,
                ),
                throttling_rate_limit=settings.throttling_rate_limit,
                throttling_burst_limit=settings.throttling_burst_limit,
            ),
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
            policy=_invoker_policy(settings.invoker_accounts),
        )
        for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            api.add_gateway_response(
                f"Json{response_type.response_type}",
                type=response_type,
                templates={"application/json": _ERROR_TEMPLATE},
            )

        integration = apigw.LambdaIntegration(self.api_function.function)
        validator = api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        submit_model = api.add_model("SubmitInference", content_type="application/json", schema=_SUBMIT_SCHEMA)

        v1 = api.root.add_resource("v1")
        inferences = v1.add_resource("inferences")
        inferences.add_method(
            "POST", integration, request_validator=validator, request_models={"application/json": submit_model}
        )
        inference = inferences.add_resource("{inference_id}")
        inference.add_method(
            "GET",
            integration,
            request_validator=validator,
            request_parameters={"method.request.path.inference_id": True},
        )
        v1.add_resource("uploads").add_method("POST", integration)
        routed = [api.root, v1, inferences, inference]
        if self.streaming_function:
            stream = v1.add_resource("generate").add_resource("stream")
            # STREAM makes API Gateway relay the function's response as it is written (REST APIs,
            # proxy integrations only). Its integration timeout stays at 29 s unless raised; with
            # STREAM it may be raised to 15 minutes with no quota increase (stream budget).
            stream.add_method(
                "POST",
                apigw.LambdaIntegration(
                    self.streaming_function.function,
                    response_transfer_mode=apigw.ResponseTransferMode.STREAM,
                    timeout=Duration.seconds(config.streaming.budget.integration_timeout_seconds),
                ),
            )
            routed.append(stream)
        # Any other method or path reaches the function too, which answers 404/405 in the API's
        # error shape; API Gateway alone would answer 403 "Missing Authentication Token".
        for resource in routed:
            resource.add_method("ANY", integration)
        api.root.add_resource("{proxy+}").add_method("ANY", integration)
        self._acknowledge_api_findings(api)
        return api

    def _table(self, id: str, *, key: str, ttl: str, pitr: bool, removal: RemovalPolicy) -> dynamodb.Table:
        # TableV2 cannot render a customer-managed key in a region-agnostic stack (Dev); Table can.
        return dynamodb.Table(
            self,
            id,
            partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=ttl,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=pitr
            ),
            removal_policy=removal,
        )

    def _acknowledge_table_findings(self, point_in_time_recovery: bool) -> None:
        backup = Acknowledgment(
            id="NIST.800.53.R5-DynamoDBInBackupPlan",
            reason="Records live for days (TTL); point-in-time recovery, set per environment, is their backup.",
        )
        Validations.of(self.requests_table.node.default_child).acknowledge(backup)
        Validations.of(self.idempotency_table.node.default_child).acknowledge(
            Acknowledgment(
                id="NIST.800.53.R5-DynamoDBInBackupPlan",
                reason="Idempotency records expire within an hour and only deduplicate retries; nothing to restore.",
            )
        )
        if not point_in_time_recovery:
            reason = "This environment's config turns point-in-time recovery off: its request records are disposable."
            for table in (self.requests_table, self.idempotency_table):
                Validations.of(table.node.default_child).acknowledge(
                    Acknowledgment(id="NIST.800.53.R5-DynamoDBPITREnabled", reason=reason),
                    Acknowledgment(id="AwsSolutions-DDB3", reason=reason),
                )

    def _acknowledge_api_findings(self, api: apigw.RestApi) -> None:
        for method in api.methods:
            Validations.of(method.node.default_child).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-COG4",
                    reason="Every method uses IAM (SigV4) authorization: callers are IAM principals, not Cognito users.",
                )
            )
        Validations.of(api.node.find_child("CloudWatchRole").node.default_child).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                reason="API Gateway's account-level logging role; this AWS managed policy is the one AWS documents for it.",
            )
        )
        Validations.of(api.deployment_stage.node.default_child).acknowledge(
            Acknowledgment(
                id="AwsSolutions-APIG3",
                reason="Callers are IAM principals of this organisation signing with SigV4; throttling is per stage. WAF is a per-organisation choice outside this stack.",
            ),
            Acknowledgment(
                id="NIST.800.53.R5-APIGWAssociatedWithWAF",
                reason="Callers are IAM principals of this organisation signing with SigV4; WAF is a per-organisation choice outside this stack.",
            ),
            Acknowledgment(
                id="NIST.800.53.R5-APIGWCacheEnabledAndEncrypted",
                reason="Responses are per caller and per request (status changes, presigned URLs); caching them would serve stale or foreign answers.",
            ),
            Acknowledgment(
                id="NIST.800.53.R5-APIGWSSLEnabled",
                reason="The backend is a Lambda proxy integration, not an HTTP endpoint, so a client certificate for the backend has nothing to verify.",
            ),
        )
