"""Template assertions for the async inference stack, in every environment."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from stacks.config import load_all
from tests.stacks.conftest import STAGE_NAMES, single

CONFIGS = {c.stage_name: c for c in load_all()}

# The step out of zero (the idle tail adds a step policy of its own, to exactly zero).
SCALE_OUT_STEP = {"PolicyType": "StepScaling", "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity"}}


@pytest.fixture(scope="module", params=STAGE_NAMES)
def stage(request, synthesized):
    name = request.param
    return name, CONFIGS[name], synthesized.template(name)


def endpoint_name(template: Template) -> str:
    return single(template, "AWS::SageMaker::Endpoint")[1]["Properties"]["EndpointName"]


# --- endpoint ---------------------------------------------------------------------------------


def test_endpoint_config_is_asynchronous_with_results_failures_key_and_topics(stage):
    name, config, template = stage
    _, endpoint_config = single(template, "AWS::SageMaker::EndpointConfig")
    async_config = endpoint_config["Properties"]["AsyncInferenceConfig"]
    assert async_config["ClientConfig"] == {
        "MaxConcurrentInvocationsPerInstance": config.models["chat"].async_.max_concurrent_invocations_per_instance
    }
    output = async_config["OutputConfig"]
    assert output["S3OutputPath"]["Fn::Join"][1][-1] == "/outputs"
    assert output["S3FailurePath"]["Fn::Join"][1][-1] == "/failures"
    assert output["KmsKeyId"] == {"Fn::GetAtt": [_logical_id(template, "AWS::KMS::Key"), "Arn"]}
    topics = output["NotificationConfig"]
    assert topics["SuccessTopic"] == {"Ref": _topic(template, "Inference succeeded")}
    assert topics["ErrorTopic"] == {"Ref": _topic(template, "Inference failed")}


def test_variant_runs_the_configured_gpu_instance_type(stage):
    _, config, template = stage
    _, endpoint_config = single(template, "AWS::SageMaker::EndpointConfig")
    (variant,) = endpoint_config["Properties"]["ProductionVariants"]
    assert variant["InstanceType"] == config.models["chat"].async_.instance_type
    assert variant["VariantName"] == "AllTraffic"


def test_model_serves_the_pinned_hub_model_through_lmi_on_every_gpu_of_a_copy(stage):
    _, config, template = stage
    _, model = single(template, "AWS::SageMaker::Model")
    environment = model["Properties"]["PrimaryContainer"]["Environment"]
    chat = config.models["chat"]
    assert environment["HF_MODEL_ID"] == chat.source.hub.id
    assert environment["HF_REVISION"] == chat.source.hub.revision
    assert environment["OPTION_ROLLING_BATCH"] == "vllm"
    assert environment["TENSOR_PARALLEL_DEGREE"] == str(chat.resources.gpus)
    assert environment["OPTION_MAX_MODEL_LEN"] == str(chat.container.max_model_len)


def test_hub_model_keeps_the_network_it_downloads_with(stage):
    _, _, template = stage
    _, model = single(template, "AWS::SageMaker::Model")
    assert model["Properties"]["EnableNetworkIsolation"] is False


def test_image_comes_from_the_regions_dlc_account(synthesized):
    prod_image = _image(synthesized.template("Prod"))
    assert prod_image["Fn::Join"][1][0].startswith("763104351884.dkr.ecr.eu-west-1.")
    assert prod_image["Fn::Join"][1][-1].endswith("/djl-inference:0.38.0-lmi29.0.0-cu130")
    # An environment-agnostic stage (a sandbox): tests/stacks/test_environments_from_files.py.


def test_endpoint_keeps_the_scaled_instance_count_across_model_updates(stage):
    _, _, template = stage
    _, endpoint = single(template, "AWS::SageMaker::Endpoint")
    assert endpoint["Properties"]["RetainAllVariantProperties"] is True


# --- scaling ----------------------------------------------------------------------------------


def test_scalable_target_spans_the_configured_bounds_from_zero(stage):
    _, config, template = stage
    _, target = single(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    props = target["Properties"]
    assert props["ServiceNamespace"] == "sagemaker"
    assert props["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert props["ResourceId"] == f"endpoint/{endpoint_name(template)}/variant/AllTraffic"
    assert (props["MinCapacity"], props["MaxCapacity"]) == (
        config.models["chat"].async_.scaling.min_capacity,
        config.models["chat"].async_.scaling.max_capacity,
    )
    assert props["MinCapacity"] == 0


def test_target_tracking_follows_backlog_per_instance(stage):
    _, config, template = stage
    scaling = config.models["chat"].async_.scaling
    _, policy = single(template, "AWS::ApplicationAutoScaling::ScalingPolicy", {"PolicyType": "TargetTrackingScaling"})
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == scaling.target_backlog_per_instance
    assert tracking["ScaleInCooldown"] == scaling.scale_in_cooldown_seconds
    assert tracking["ScaleOutCooldown"] == scaling.scale_out_cooldown_seconds
    assert tracking["CustomizedMetricSpecification"] == {
        "MetricName": "ApproximateBacklogSizePerInstance",
        "Namespace": "AWS/SageMaker",
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint_name(template)}],
        "Statistic": "Average",
    }


def test_step_policy_adds_one_instance_and_never_scales_in(stage):
    _, config, template = stage
    _, policy = single(template, "AWS::ApplicationAutoScaling::ScalingPolicy", SCALE_OUT_STEP)
    step = policy["Properties"]["StepScalingPolicyConfiguration"]
    assert step["AdjustmentType"] == "ChangeInCapacity"
    assert step["MetricAggregationType"] == "Average"
    # As long as a start from zero may take (tests/stacks/test_scale_to_zero.py says why).
    assert step["Cooldown"] == 600 + config.models["chat"].container.startup_health_check_timeout_seconds
    assert step["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]


def test_backlog_without_capacity_alarm_fires_the_step_policy(stage):
    _, _, template = stage
    step_policy_id, _ = single(template, "AWS::ApplicationAutoScaling::ScalingPolicy", SCALE_OUT_STEP)
    _, alarm = single(template, "AWS::CloudWatch::Alarm", {"MetricName": "HasBacklogWithoutCapacity"})
    props = alarm["Properties"]
    assert props["Namespace"] == "AWS/SageMaker"
    assert props["Dimensions"] == [{"Name": "EndpointName", "Value": endpoint_name(template)}]
    assert props["Statistic"] == "Average"
    assert props["Period"] == 60
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (2, 2)
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "missing"
    assert props["AlarmActions"] == [{"Ref": step_policy_id}]


def test_scaling_uses_the_sagemaker_service_linked_role(stage):
    _, _, template = stage
    _, target = single(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    role = target["Properties"]["RoleARN"]
    assert "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint" in str(role)


# --- alarms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "threshold_field", "operator"),
    [
        ("InvocationFailures", "invocation_failures", "GreaterThanOrEqualToThreshold"),
        ("NotificationFailures", "notification_failures", "GreaterThanOrEqualToThreshold"),
        ("ApproximateAgeOfOldestRequest", "oldest_request_age_seconds", "GreaterThanThreshold"),
    ],
)
def test_operational_alarm_notifies_the_alarm_topic(stage, metric, threshold_field, operator):
    _, config, template = stage
    _, alarm = single(template, "AWS::CloudWatch::Alarm", {"MetricName": metric})
    props = alarm["Properties"]
    assert props["Threshold"] == getattr(config.models["chat"].async_.alarms, threshold_field)
    assert props["ComparisonOperator"] == operator
    published = [{"Name": "EndpointName", "Value": endpoint_name(template)}]
    if metric != "ApproximateAgeOfOldestRequest":
        published.append({"Name": "VariantName", "Value": "AllTraffic"})
    assert props["Dimensions"] == published
    assert props["AlarmActions"] == [{"Ref": _topic(template, "Inference alarms")}]


# --- encryption and transport -----------------------------------------------------------------


def test_key_rotates(stage):
    _, _, template = stage
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_every_bucket_is_private_encrypted_and_ssl_only(stage):
    _, _, template = stage
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 4
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        assert algorithm in {"aws:kms", "AES256"}
        _assert_denies_insecure_transport(template, "AWS::S3::BucketPolicy", "Bucket", logical_id)


def test_payload_buckets_use_the_customer_managed_key_and_log_access(stage):
    _, config, template = stage
    key_arn = {"Fn::GetAtt": [_logical_id(template, "AWS::KMS::Key"), "Arn"]}
    logged = template.find_resources("AWS::S3::Bucket", {"Properties": {"LoggingConfiguration": Match.any_value()}})
    payload = {i: b for i, b in logged.items() if not i.startswith("Models")}
    assert len(payload) == 2
    expiries = set()
    for bucket in payload.values():
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
        expiries.add(bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"])
    assert expiries == {config.storage.input_expiry_days, config.storage.output_expiry_days}


def test_model_bucket_keeps_mirrored_files_versioned_encrypted_and_logged(stage):
    _, _, template = stage
    props = template.to_json()["Resources"][_logical_id(template, "AWS::S3::Bucket", "Models")]["Properties"]
    key_arn = {"Fn::GetAtt": [_logical_id(template, "AWS::KMS::Key"), "Arn"]}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "Models/"
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert "ExpirationInDays" not in lifecycle, "the catalog points at current versions: they never expire"
    assert lifecycle["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}


def test_every_topic_is_encrypted_and_ssl_only(stage):
    _, _, template = stage
    topics = template.find_resources("AWS::SNS::Topic")
    assert len(topics) == 3
    for logical_id, topic in topics.items():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [_logical_id(template, "AWS::KMS::Key"), "Arn"]}
        _assert_denies_insecure_transport(template, "AWS::SNS::TopicPolicy", "Topics", logical_id)


def test_removal_policy_follows_config(stage):
    _, config, template = stage
    expected = "Delete" if config.storage.removal_policy == "destroy" else "RetainExceptOnCreate"
    for type_ in ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup"):
        for resource in template.find_resources(type_).values():
            assert resource["DeletionPolicy"] == expected, type_


# --- least privilege --------------------------------------------------------------------------


def test_execution_role_is_assumed_by_sagemaker_with_no_managed_full_access(stage):
    _, _, template = stage
    _, role = single(template, "AWS::IAM::Role", {"Description": Match.string_like_regexp("model container")})
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }
    assert "FullAccess" not in str(template.to_json())


def test_execution_policy_grants_exactly_what_the_endpoint_needs(stage):
    _, _, template = stage
    _, policy = single(template, "AWS::IAM::ManagedPolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = {_as_tuple(s["Action"]) for s in statements}
    assert actions == {
        ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"),
        ("ecr:GetAuthorizationToken",),
        ("s3:GetObject",),
        ("s3:PutObject",),
        ("sns:Publish",),
        ("kms:Decrypt", "kms:GenerateDataKey"),
        ("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
        ("cloudwatch:PutMetricData",),
    }
    by_sid = {s.get("Sid"): s for s in statements}
    output = _logical_id(template, "AWS::S3::Bucket", "Output")
    assert sorted(r["Fn::Join"][1][-1] for r in by_sid["WriteResults"]["Resource"]) == ["/failures/*", "/outputs/*"]
    assert all(r["Fn::Join"][1][0] == {"Fn::GetAtt": [output, "Arn"]} for r in by_sid["WriteResults"]["Resource"])
    assert sorted(r["Fn::Join"][1][-1] for r in by_sid["ReadInputs"]["Resource"]) == ["/requests/*", "/uploads/*"]
    assert sorted(t["Ref"] for t in by_sid["Notify"]["Resource"]) == sorted(
        [_topic(template, "Inference succeeded"), _topic(template, "Inference failed")]
    )
    assert by_sid["PublishMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}
    }
    wildcard = [s for s in statements if s["Resource"] == "*"]
    assert {_as_tuple(s["Action"]) for s in wildcard} == {("ecr:GetAuthorizationToken",), ("cloudwatch:PutMetricData",)}


def test_model_waits_for_its_permissions(stage):
    _, _, template = stage
    _, model = single(template, "AWS::SageMaker::Model")
    assert _logical_id(template, "AWS::IAM::ManagedPolicy") in model["DependsOn"]


def test_outputs_name_the_buckets_and_topics(stage):
    _, _, template = stage
    outputs = template.to_json()["Outputs"]
    assert {"InputBucketName", "OutputBucketName", "SuccessTopicArn", "ErrorTopicArn"} <= set(outputs)


# --- helpers ----------------------------------------------------------------------------------


def _as_tuple(action: str | list[str]) -> tuple[str, ...]:
    return tuple(sorted([action] if isinstance(action, str) else action))


def _logical_id(template: Template, type_: str, prefix: str = "") -> str:
    ids = [i for i in template.find_resources(type_) if i.startswith(prefix)]
    assert len(ids) == 1, ids
    return ids[0]


def _topic(template: Template, display_name: str) -> str:
    return single(template, "AWS::SNS::Topic", {"DisplayName": display_name})[0]


def _image(template: Template) -> dict:
    return single(template, "AWS::SageMaker::Model")[1]["Properties"]["PrimaryContainer"]["Image"]


def _assert_denies_insecure_transport(template: Template, policy_type: str, target_key: str, logical_id: str) -> None:
    for policy in template.find_resources(policy_type).values():
        targets = policy["Properties"][target_key]
        target_ids = [t["Ref"] for t in (targets if isinstance(targets, list) else [targets])]
        if logical_id not in target_ids:
            continue
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ), f"{logical_id} allows requests without TLS"
        return
    raise AssertionError(f"{logical_id} has no {policy_type}")
