"""Template assertions for the API stack: auth, notifications wiring, least privilege, config."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from stacks.config import load_all
from stacks.gateway_errors import error_body
from tests.stacks.conftest import STAGE_NAMES

# The handlers' shared package, as each function's asset holds it at its root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lambda" / "shared"))
from inference_common.catalog import ModelCatalog  # noqa: E402

CONFIGS = {c.stage_name: c for c in load_all()}


@pytest.fixture(scope="module", params=STAGE_NAMES)
def stage(request, synthesized):
    name = request.param
    return CONFIGS[name], synthesized.template(name, "api"), synthesized.template(name)


def resources(template: Template, type_: str, props: dict | None = None) -> dict:
    return template.find_resources(type_, {"Properties": props} if props else None)


def function(template: Template, service: str) -> tuple[str, dict]:
    (found,) = [
        (i, r) for i, r in resources(template, "AWS::Lambda::Function").items()
        if r["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME") == service
    ]
    return found


def role_statements(template: Template, function_resource: dict) -> list[dict]:
    role_id = function_resource["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [
        p for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def actions_of(statements: list[dict]) -> set[str]:
    found = set()
    for statement in statements:
        action = statement["Action"]
        found |= {action} if isinstance(action, str) else set(action)
    return found


def test_every_method_requires_iam_authorization(stage):
    _, api, _ = stage
    methods = resources(api, "AWS::ApiGateway::Method")
    assert len(methods) >= 8
    assert {m["Properties"]["AuthorizationType"] for m in methods.values()} == {"AWS_IAM"}


def test_contract_routes_exist(stage):
    _, api, _ = stage
    paths = {r["Properties"]["PathPart"] for r in resources(api, "AWS::ApiGateway::Resource").values()}
    assert {"v1", "inferences", "{inference_id}", "uploads", "{proxy+}"} <= paths
    verbs = {m["Properties"]["HttpMethod"] for m in resources(api, "AWS::ApiGateway::Method").values()}
    assert {"GET", "POST", "ANY"} <= verbs


def test_submit_body_is_validated_by_api_gateway(stage):
    _, api, _ = stage
    (post,) = [
        m for m in resources(api, "AWS::ApiGateway::Method", {"HttpMethod": "POST"}).values()
        if "RequestModels" in m["Properties"]
    ]
    assert "RequestValidatorId" in post["Properties"]
    validator = next(iter(resources(api, "AWS::ApiGateway::RequestValidator").values()))
    assert validator["Properties"]["ValidateRequestBody"] is True


def test_gateway_errors_use_the_api_error_shape_with_openais_type_as_the_local_gateway_does(stage):
    _, api, _ = stage
    responses = resources(api, "AWS::ApiGateway::GatewayResponse")
    by_type = {r["Properties"]["ResponseType"]: r["Properties"]["ResponseTemplates"]["application/json"]
               for r in responses.values()}
    assert set(by_type) == {"DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED"}
    for response_type, template in by_type.items():
        # What API Gateway writes: $context.error.messageString is the message as a quoted JSON string.
        message = 'Too "Many" Requests'
        rendered = json.loads(
            template.replace("$context.error.responseType", response_type)
            .replace("$context.error.messageString", json.dumps(message))
        )
        assert rendered == error_body(response_type, message, response_type)
        assert set(rendered["error"]) == {"code", "message", "type", "param"}


def test_stage_throttles_traces_and_logs_access_per_config(stage):
    config, api, _ = stage
    (api_stage,) = resources(api, "AWS::ApiGateway::Stage").values()
    props = api_stage["Properties"]
    assert props["TracingEnabled"] is True
    assert "DestinationArn" in props["AccessLogSetting"]
    (settings,) = props["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == config.api.throttling_rate_limit
    assert settings["ThrottlingBurstLimit"] == config.api.throttling_burst_limit
    assert settings["LoggingLevel"] == "ERROR"


def test_both_result_topics_deliver_to_the_notification_queue(stage):
    _, api, async_stack = stage
    subs = resources(api, "AWS::SNS::Subscription", {"Protocol": "sqs"})
    assert len(subs) == 2
    assert all(not s["Properties"].get("RawMessageDelivery", False) for s in subs.values())
    topic_names = {json.dumps(s["Properties"]["TopicArn"]) for s in subs.values()}
    assert len(topic_names) == 2


def test_notification_queue_is_encrypted_ssl_only_with_an_alarmed_dead_letter_queue(stage):
    _, api, _ = stage
    queues = resources(api, "AWS::SQS::Queue")
    assert len(queues) == 2
    for queue in queues.values():
        assert "KmsMasterKeyId" in queue["Properties"]
    (main,) = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    assert main["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    dlq_id = main["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    for policy in resources(api, "AWS::SQS::QueuePolicy").values():
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    (alarm,) = resources(api, "AWS::CloudWatch::Alarm").values()
    assert alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq_id, "QueueName"]}
    assert alarm["Properties"]["Threshold"] == 1
    assert alarm["Properties"]["AlarmActions"]


def test_notification_handler_reports_partial_batch_failures(stage):
    _, api, _ = stage
    (mapping,) = resources(api, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    function_id, _ = function(api, "notifications")
    assert mapping["Properties"]["FunctionName"] == {"Ref": function_id}


def test_notification_handler_may_only_update_the_table(stage):
    _, api, _ = stage
    _, handler = function(api, "notifications")
    statements = role_statements(api, handler)
    data_actions = {a for a in actions_of(statements) if a.startswith(("dynamodb:", "s3:", "sagemaker:"))}
    assert data_actions == {"dynamodb:UpdateItem"}
    (table_statement,) = [s for s in statements if s["Action"] == "dynamodb:UpdateItem"]
    assert table_statement["Resource"]["Fn::GetAtt"][0].startswith("Requests")


def test_api_handler_invokes_only_this_endpoint_and_writes_only_its_prefixes(stage):
    config, api, async_stack = stage
    _, handler = function(api, "async_api")
    statements = role_statements(api, handler)
    by_action = {}
    for statement in statements:
        for action in [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]:
            by_action.setdefault(action, []).append(statement["Resource"])
    (endpoint_arn,) = by_action["sagemaker:InvokeEndpointAsync"]
    (endpoint,) = resources(async_stack, "AWS::SageMaker::Endpoint").values()
    assert endpoint["Properties"]["EndpointName"] in json.dumps(endpoint_arn)
    (put_targets,) = by_action["s3:PutObject"]
    assert sorted(json.dumps(t).split("/")[-2] for t in put_targets) == ["requests", "uploads"]
    (get_target,) = by_action["s3:GetObject"]
    assert "-output-" in json.dumps(get_target) and json.dumps(get_target).rstrip('"]}').endswith("/outputs/*")
    assert "s3:DeleteObject" not in by_action and "sagemaker:InvokeEndpoint" not in by_action


def test_handlers_get_every_resource_name_from_the_environment(stage):
    config, api, async_stack = stage
    _, handler = function(api, "async_api")
    variables = handler["Properties"]["Environment"]["Variables"]
    assert set(variables) == {
        "POWERTOOLS_SERVICE_NAME", "MODEL_CATALOG", "INPUT_BUCKET", "OUTPUT_BUCKET", "REQUESTS_TABLE",
        "IDEMPOTENCY_TABLE", "MAX_INLINE_BYTES", "PRESIGN_EXPIRY_SECONDS", "REQUEST_RECORD_TTL_DAYS",
    }
    (endpoint,) = resources(async_stack, "AWS::SageMaker::Endpoint").values()
    catalog = json.loads(variables["MODEL_CATALOG"])
    assert catalog["models"]["chat"]["async"] == {"endpoint_name": endpoint["Properties"]["EndpointName"]}
    assert variables["MAX_INLINE_BYTES"] == str(config.api.max_inline_bytes)
    (input_bucket,) = [b for i, b in resources(async_stack, "AWS::S3::Bucket").items() if i.startswith("Input")]
    assert variables["INPUT_BUCKET"] == input_bucket["Properties"]["BucketName"]
    _, notifier = function(api, "notifications")
    assert set(notifier["Properties"]["Environment"]["Variables"]) == {
        "POWERTOOLS_SERVICE_NAME", "REQUESTS_TABLE", "OUTPUT_BUCKET", "REQUEST_RECORD_TTL_DAYS",
    }


def test_functions_trace_log_to_encrypted_groups_and_reserve_concurrency(stage):
    config, api, _ = stage
    for _, handler in resources(api, "AWS::Lambda::Function").items():
        props = handler["Properties"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["ReservedConcurrentExecutions"] == config.api.reserved_concurrency
        assert props["Runtime"] == "python3.14"
        assert "KmsKeyArn" in props
    for group in resources(api, "AWS::Logs::LogGroup").values():
        assert "KmsKeyId" in group["Properties"]


def test_request_table_is_encrypted_expires_records_and_follows_pitr_config(stage):
    config, api, _ = stage
    tables = resources(api, "AWS::DynamoDB::Table")
    (requests,) = [t for i, t in tables.items() if i.startswith("Requests")]
    props = requests["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "inference_id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"]["SSEType"] == "KMS"
    pitr = props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled", False)
    assert pitr is config.api.point_in_time_recovery


def test_api_stack_takes_no_export_from_the_endpoint_stack(stage):
    """An instance-type change renames the endpoint; an export in use could not change."""
    _, api, _ = stage
    assert "Fn::ImportValue" not in json.dumps(api.to_json())
    catalogs = [
        f["Properties"]["Environment"]["Variables"]["MODEL_CATALOG"]
        for f in resources(api, "AWS::Lambda::Function").values()
        if "MODEL_CATALOG" in f["Properties"]["Environment"]["Variables"]
    ]
    assert len(catalogs) == 2
    assert all(isinstance(catalog, str) for catalog in catalogs), "endpoint names are plain strings from config"


# Logical ids of the Dev API stack before it was split into constructs (main at e5ee454). A new
# logical id means CloudFormation replaces the resource: a new RestApi is a new URL for every
# caller, a new table loses the request records, and a new SNS subscription or queue policy
# identical to the old one is deleted together with it.
KEPT_ACROSS_THE_SPLIT = {
    "ApiF70053CD": "AWS::ApiGateway::RestApi",
    "ApiDeploymentStageapi01526A9D": "AWS::ApiGateway::Stage",
    "ApiAccountA18C9B29": "AWS::ApiGateway::Account",
    "RequestsC42AC379": "AWS::DynamoDB::Table",
    "IdempotencyC15CBC33": "AWS::DynamoDB::Table",
    "Notifications87298708": "AWS::SQS::Queue",
    "NotificationDeadLettersA1DA2840": "AWS::SQS::Queue",
    "NotificationsPolicyF9115BC9": "AWS::SQS::QueuePolicy",
    "NotificationDeadLettersPolicy040DD897": "AWS::SQS::QueuePolicy",
    "NotificationsDevAsyncInferenceSuccessTopic290D6DF7E73FA8E5": "AWS::SNS::Subscription",
    "NotificationsDevAsyncInferenceErrorTopic41DF50F9F6270FC0": "AWS::SNS::Subscription",
    "NotificationHandlerFunction753EC2BB": "AWS::Lambda::Function",
    "AsyncApiHandlerFunctionB0036315": "AWS::Lambda::Function",
    "StreamingHandlerFunctionBE187904": "AWS::Lambda::Function",
    "Key961B73FD": "AWS::KMS::Key",
}


def test_splitting_the_api_stack_into_constructs_replaces_nothing(synthesized):
    resources = synthesized.template("Dev", "api").to_json()["Resources"]
    assert {i: resources[i]["Type"] for i in KEPT_ACROSS_THE_SPLIT if i in resources} == KEPT_ACROSS_THE_SPLIT


def test_the_catalog_the_stack_writes_is_the_one_the_handlers_read(stage):
    """The contract of lambda/shared/inference_common/catalog.py, checked with its own reader."""
    config, api, _ = stage
    expected_modes = {
        name: tuple(mode for mode, block in (("async", model.async_), ("streaming", model.streaming)) if block)
        for name, model in config.models.items()
    }
    for service in ("async_api", "streaming"):
        _, handler = function(api, service)
        catalog = ModelCatalog.from_json(handler["Properties"]["Environment"]["Variables"]["MODEL_CATALOG"])
        assert catalog.default == config.default_model
        assert {name: model.modes for name, model in catalog.models.items()} == expected_modes


def test_the_gateway_lets_a_chat_body_through_to_the_function(stage):
    _, api, _ = stage
    (model,) = resources(api, "AWS::ApiGateway::Model").values()
    assert model["Properties"]["Schema"]["properties"]["messages"] == {"type": "array"}
    assert "required" not in model["Properties"]["Schema"]

