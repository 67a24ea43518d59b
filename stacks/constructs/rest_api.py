"""The IAM-authenticated REST API in front of the async function and the streaming front."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import ApiConfig
from stacks.constructs.secure_storage import RETAINED
from stacks.gateway_errors import OPENAI_TYPES, response_template

API_STAGE = "api"
# Inline request bodies are checked for shape here; the function gives the precise 4xx for the rest.
_SUBMIT_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    type=apigw.JsonSchemaType.OBJECT,
    properties={
        "model": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING),
        "parameters": apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT),
        "messages": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY),
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


class InferenceRestApi(apigw.RestApi):
    """REST API (IAM auth on every method, throttled stage, JSON errors) routing to the functions.

    Every path reaches `async_function` unless it is a streamed route (`POST /v1/generate/stream`,
    `POST /v1/chat/completions`), so unknown paths and
    methods get the API's 404/405 shape instead of API Gateway's 403 "Missing Authentication Token".

    It is the RestApi itself, and its access log group is its sibling ("<id>AccessLogs"), so its
    resources keep the logical ids they had before this construct existed: a new RestApi would be
    a new API id, and so a new URL for every caller.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: ApiConfig,
        name: str,
        description: str,
        async_function: lambda_.IFunction,
        streaming_function: lambda_.IFunction | None,
        stream_integration_timeout: Duration | None,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        access_logs = logs.LogGroup(
            scope, f"{id}AccessLogs", retention=log_retention, encryption_key=key, removal_policy=removal_policy
        )
        super().__init__(
            scope,
            id,
            rest_api_name=name,
            description=description,
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
        api = self
        # Every error API Gateway answers itself (auth, throttling, validation) gets the API's error shape.
        for response_type in OPENAI_TYPES:
            api.add_gateway_response(
                f"Json{response_type}",
                type=apigw.ResponseType.of(response_type),
                templates={"application/json": response_template(response_type)},
            )

        integration = apigw.LambdaIntegration(async_function)
        validator = api.add_request_validator("Validator", validate_request_body=True, validate_request_parameters=True)
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
        models = v1.add_resource("models")
        models.add_method("GET", integration)
        routed = [api.root, v1, inferences, inference, models]
        if streaming_function is not None:
            # STREAM makes API Gateway relay the function's response as it is written (REST APIs,
            # proxy integrations only). Its integration timeout stays at 29 s unless raised; with
            # STREAM it may be raised to 15 minutes with no quota increase (stream budget).
            streamed = apigw.LambdaIntegration(
                streaming_function,
                response_transfer_mode=apigw.ResponseTransferMode.STREAM,
                timeout=stream_integration_timeout,
            )
            stream = v1.add_resource("generate").add_resource("stream")
            stream.add_method("POST", streamed)
            # OpenAI Chat Completions, streamed or not: the streaming front answers both, within the
            # same stream budget.
            chat = v1.add_resource("chat").add_resource("completions")
            chat.add_method("POST", streamed)
            routed += [stream, chat]
        for resource in routed:
            resource.add_method("ANY", integration)
        api.root.add_resource("{proxy+}").add_method("ANY", integration)
        self._acknowledge_findings()

    def _acknowledge_findings(self) -> None:
        api = self
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
