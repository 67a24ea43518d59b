"""Every place where one AWS service reaches a resource of ours, and the policy that lets it.

A resource policy (topic, queue, bucket, key) replaces the service's default, so each service that
must reach the resource needs an explicit, scoped Allow. One test per integration, in every
environment; each names the document the behaviour comes from in the code it checks.
"""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, ArnFormat, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from stacks.async_inference_stack import AsyncInferenceStack
from stacks.config import load_all
from stacks.constructs.secure_topic import SecureTopic
from stacks.streaming_stack import StreamingStack
from tests.stacks.conftest import STAGE_NAMES, cdk_context, single

CONFIGS = {c.stage_name: c for c in load_all()}
STACKS = ("async_inference", "streaming", "api")


@pytest.fixture(scope="module", params=STAGE_NAMES)
def stage(request, synthesized):
    return synthesized.stages[request.param]


def template_of(stage, stack: str) -> Template:
    return Template.from_stack(getattr(stage, stack))


def refers_to(value: object, logical_id: str) -> bool:
    """A Ref in the same stack, or a cross-stack reference (Fn::GetStackOutput) to that resource."""
    if value == {"Ref": logical_id}:
        return True
    output = value.get("Fn::GetStackOutput", {}).get("OutputName", "") if isinstance(value, dict) else ""
    return output.startswith(f"PublishOutputRef{logical_id}")


def statements(resource: dict, document: str) -> list[dict]:
    return resource["Properties"][document]["Statement"]


def as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def topic_id(template: Template, display_name: str) -> str:
    return single(template, "AWS::SNS::Topic", {"DisplayName": display_name})[0]


def topic_policy(template: Template, topic: str) -> list[dict]:
    (policy,) = [
        p for p in template.find_resources("AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": topic}]
    ]
    return statements(policy, "PolicyDocument")


def key_policy(template: Template) -> list[dict]:
    return statements(single(template, "AWS::KMS::Key")[1], "KeyPolicy")


def resolved(stack: Stack, value: str) -> object:
    return stack.resolve(value)


# --- CloudWatch alarms -> the alarm topic -----------------------------------------------------


def test_cloudwatch_alarms_of_this_account_may_publish_to_the_alarm_topic(stage):
    stack = stage.async_inference
    template = template_of(stage, "async_inference")
    alarm_topic = topic_id(template, "Inference alarms")
    (allow,) = [s for s in topic_policy(template, alarm_topic) if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"] == {
        "StringEquals": {"aws:SourceAccount": resolved(stack, stack.account)},
        "ArnLike": {
            "aws:SourceArn": resolved(
                stack,
                stack.format_arn(
                    service="cloudwatch", resource="alarm", resource_name="*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                ),
            )
        },
    }


def test_cloudwatch_may_encrypt_with_the_alarm_topics_key(stage):
    template = template_of(stage, "async_inference")
    (grant,) = [s for s in key_policy(template) if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_every_alarm_action_is_a_recipient_or_a_scaling_policy(stage):
    config = CONFIGS[stage.config.stage_name]
    alarm_topic = topic_id(template_of(stage, "async_inference"), "Inference alarms")
    for stack in STACKS:
        template = template_of(stage, stack)
        policies = set(template.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy"))
        for logical_id, alarm in template.find_resources("AWS::CloudWatch::Alarm").items():
            actions = alarm["Properties"]["AlarmActions"]
            if any(a in [{"Ref": p} for p in policies] for a in actions):
                assert len(actions) == 1, logical_id
                continue
            assert refers_to(actions[0], alarm_topic), logical_id
            assert actions[1:] == config.alarms.topic_arns, logical_id


def test_every_alarm_also_publishes_to_each_existing_recipient_topic():
    prod = CONFIGS["Prod"]
    pager = "arn:aws:sns:eu-west-1:333333333333:pager"
    config = prod.model_copy(update={"alarms": prod.alarms.model_copy(update={"topic_arns": [pager]})})
    app = App(context=cdk_context())
    endpoint_stack = AsyncInferenceStack(app, "Async", config=config)
    streaming = StreamingStack(app, "Streaming", config=config, alarm_recipients=endpoint_stack.alarm_recipients)
    notifying = []
    for stack in (endpoint_stack, streaming):
        template = Template.from_stack(stack)
        policies = [{"Ref": p} for p in template.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy")]
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
            if not any(action in policies for action in alarm["Properties"]["AlarmActions"]):
                notifying.append(alarm["Properties"]["AlarmActions"])
    assert len(notifying) >= 5
    assert all(len(actions) == 2 and actions[1] == pager for actions in notifying)


def test_alarm_topic_subscribes_every_configured_address(stage):
    config = CONFIGS[stage.config.stage_name]
    template = template_of(stage, "async_inference")
    alarm_topic = topic_id(template, "Inference alarms")
    subscriptions = template.find_resources("AWS::SNS::Subscription", {"Properties": {"Protocol": "email"}})
    assert sorted(s["Properties"]["Endpoint"] for s in subscriptions.values()) == sorted(config.alarms.email)
    assert all(s["Properties"]["TopicArn"] == {"Ref": alarm_topic} for s in subscriptions.values())


def test_a_topic_cannot_be_built_without_naming_its_publishers():
    stack = Stack(App(), "Topics")
    with pytest.raises(ValueError, match="publisher"):
        SecureTopic(stack, "Nobody", key=kms.Key(stack, "Key"), display_name="x", publishers=[])


# --- SageMaker -> the result topics -----------------------------------------------------------


def test_sagemaker_publishes_results_with_its_execution_role_and_the_topic_key(stage):
    template = template_of(stage, "async_inference")
    topics = [topic_id(template, "Inference succeeded"), topic_id(template, "Inference failed")]
    for topic in topics:
        (allow,) = [s for s in topic_policy(template, topic) if s["Effect"] == "Allow"]
        # Same-account principals are let in, and the execution role's own policy names the topic.
        assert allow["Principal"]["AWS"] == resolved(
            stage.async_inference, f"arn:{stage.async_inference.partition}:iam::{stage.async_inference.account}:root"
        )
    (policy,) = template.find_resources("AWS::IAM::ManagedPolicy").values()
    by_sid = {s.get("Sid"): s for s in statements(policy, "PolicyDocument")}
    assert by_sid["Notify"]["Action"] == "sns:Publish"
    assert sorted(r["Ref"] for r in by_sid["Notify"]["Resource"]) == sorted(topics)
    key_id = single(template, "AWS::KMS::Key")[0]
    assert set(by_sid["UseDataKey"]["Action"]) >= {"kms:GenerateDataKey", "kms:Decrypt"}
    assert by_sid["UseDataKey"]["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}


# --- SNS -> the notification queue ------------------------------------------------------------


def test_result_topics_may_deliver_to_the_encrypted_notification_queue(stage):
    endpoint_template = template_of(stage, "async_inference")
    topics = [topic_id(endpoint_template, "Inference succeeded"), topic_id(endpoint_template, "Inference failed")]
    api = template_of(stage, "api")
    sends = [
        s for p in api.find_resources("AWS::SQS::QueuePolicy").values() for s in statements(p, "PolicyDocument")
        if s["Effect"] == "Allow"
    ]
    key_grants = [s for s in key_policy(api) if s["Principal"] == {"Service": "sns.amazonaws.com"}]
    for topic in topics:
        (send,) = [s for s in sends if refers_to(s["Condition"]["ArnEquals"]["aws:SourceArn"], topic)]
        assert (send["Principal"], send["Action"]) == ({"Service": "sns.amazonaws.com"}, "sqs:SendMessage")
        # SNS encrypts each message with the queue's key (SQS developer guide, "Amazon SQS key
        # management": compatibility between AWS services such as Amazon SNS and encrypted queues).
        (grant,) = [g for g in key_grants if refers_to(g["Condition"]["ArnEquals"]["aws:SourceArn"], topic)]
        assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}


# --- S3 server access logging -> the log bucket -----------------------------------------------


def test_s3_may_deliver_each_logged_buckets_access_logs(stage):
    stack = stage.async_inference
    template = template_of(stage, "async_inference")
    logged = template.find_resources("AWS::S3::Bucket", {"Properties": {"LoggingConfiguration": {}}})
    assert len(logged) == 3, "input, output and model buckets"
    for bucket_id, bucket in logged.items():
        log_bucket = bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
        (policy,) = [
            p for p in template.find_resources("AWS::S3::BucketPolicy").values()
            if p["Properties"]["Bucket"] == {"Ref": log_bucket}
        ]
        # S3 user guide, "Enabling Amazon S3 server access logging", permissions for log delivery:
        # the logging service principal, scoped to the source bucket and account.
        (allow,) = [
            s for s in statements(policy, "PolicyDocument")
            if s.get("Condition", {}).get("ArnLike", {}).get("aws:SourceArn") == {"Fn::GetAtt": [bucket_id, "Arn"]}
        ]
        assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        assert allow["Action"] == "s3:PutObject"
        assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": resolved(stack, stack.account)}


# --- CloudWatch Logs -> the keys of encrypted log groups --------------------------------------


def test_cloudwatch_logs_may_use_each_stacks_key_for_this_accounts_log_groups_only(stage):
    for name in STACKS:
        stack = getattr(stage, name)
        template = template_of(stage, name)
        key_id, _ = single(template, "AWS::KMS::Key")
        groups = template.find_resources("AWS::Logs::LogGroup")
        assert groups, name
        assert all(g["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]} for g in groups.values())
        (grant,) = [s for s in key_policy(template) if "Service" in s["Principal"] and "logs." in json.dumps(s["Principal"])]
        assert grant["Principal"] == {"Service": resolved(stack, f"logs.{stack.region}.amazonaws.com")}
        assert grant["Condition"] == {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": resolved(
                    stack,
                    stack.format_arn(
                        service="logs", resource="log-group", resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    ),
                )
            }
        }


# --- API Gateway -> the functions -------------------------------------------------------------


def test_only_this_apis_stages_may_invoke_its_functions(stage):
    api = template_of(stage, "api")
    api_id = single(api, "AWS::ApiGateway::RestApi")[0]
    functions = {
        logical_id for logical_id, f in api.find_resources("AWS::Lambda::Function").items()
        if f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] in ("async_api", "streaming")
    }
    permissions = api.find_resources("AWS::Lambda::Permission").values()
    invoked = {p["Properties"]["FunctionName"]["Fn::GetAtt"][0] for p in permissions}
    assert invoked == functions
    for permission in permissions:
        props = permission["Properties"]
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert {"Ref": api_id} in props["SourceArn"]["Fn::Join"][1]


# --- SQS -> the notification function (event source mapping) ---------------------------------


def test_the_notification_function_may_poll_and_decrypt_its_queue(stage):
    # Lambda polls the queue with the function's own role (Lambda developer guide, "Using Lambda
    # with Amazon SQS": execution role permissions, and kms:Decrypt for a customer-managed key).
    api = template_of(stage, "api")
    key_id, _ = single(api, "AWS::KMS::Key")
    (mapping,) = api.find_resources("AWS::Lambda::EventSourceMapping").values()
    queue = mapping["Properties"]["EventSourceArn"]
    function_id = mapping["Properties"]["FunctionName"]["Ref"]
    role = api.find_resources("AWS::Lambda::Function")[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [
        p for p in api.find_resources("AWS::IAM::Policy").values() if p["Properties"]["Roles"] == [{"Ref": role}]
    ]
    granted = statements(policy, "PolicyDocument")
    (polling,) = [s for s in granted if s["Resource"] == queue]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= set(polling["Action"])
    assert any(
        s["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]} and "kms:Decrypt" in as_list(s["Action"]) for s in granted
    )
