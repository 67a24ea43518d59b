"""Each environment's dashboard: per model, the queue, wakes, latency and failures; the API and its DLQ."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from stacks.constructs.sagemaker_metrics import published_dimension_sets
from tests.stacks.conftest import STAGE_NAMES
from tests.streaming.streaming_modules import stream_metrics


def dashboard_body(template: Template) -> dict:
    """The dashboard's JSON, with CloudFormation references (queue names, region) as placeholders."""
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, dict):
        separator, parts = body["Fn::Join"]
        body = separator.join(part if isinstance(part, str) else "REF" for part in parts)
    return json.loads(body)


def metrics(body: dict) -> list[list]:
    """Each metric of each graph as CloudWatch's array: [namespace, name, dim, value, ..., {options}]."""
    return [metric for widget in body["widgets"] for metric in widget["properties"].get("metrics", [])]


@pytest.fixture(scope="module")
def bodies(synthesized) -> dict[str, dict]:
    return {name: dashboard_body(Template.from_stack(synthesized.stages[name].dashboard)) for name in STAGE_NAMES}


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_async_model_shows_its_queue_its_wakes_latency_and_failures(synthesized, bodies, stage):
    config = synthesized.stages[stage].config
    titles = [widget["properties"]["title"] for widget in bodies[stage]["widgets"]]
    for model in config.async_models:
        for part in ("queue", "instances and wakes", "latency", "failures"):
            assert any(title.startswith(f"{model} (async): {part}") for title in titles), (model, part)


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_streaming_model_shows_requests_wakes_latency_and_errors(synthesized, bodies, stage):
    config = synthesized.stages[stage].config
    titles = [widget["properties"]["title"] for widget in bodies[stage]["widgets"]]
    for model in config.streaming_models:
        for part in ("requests", "copies and wakes", "model latency", "errors"):
            assert any(title.startswith(f"{model} (streaming): {part}") for title in titles), (model, part)


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_instances_and_copies_in_service_are_counted_from_the_metrics_each_one_reports(synthesized, bodies, stage):
    config = synthesized.stages[stage].config
    counted = {(metric[0], metric[1]) for metric in metrics(bodies[stage]) if metric[-1].get("stat") == "SampleCount"}
    if config.async_models:
        assert ("/aws/sagemaker/Endpoints", "CPUUtilization") in counted
    if config.streaming_models:
        assert ("/aws/sagemaker/InferenceComponents", "CPUUtilizationNormalized") in counted


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_notification_dead_letter_queue_depth_is_on_the_dashboard(bodies, stage):
    assert any(
        metric[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"] for metric in metrics(bodies[stage])
    )


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_sagemaker_metric_on_the_dashboard_has_a_dimension_set_sagemaker_publishes(bodies, stage):
    for metric in metrics(bodies[stage]):
        if not metric[0].startswith(("AWS/SageMaker", "/aws/sagemaker/")):
            continue
        dimensions = frozenset(metric[2:-1:2] if isinstance(metric[-1], dict) else metric[2::2])
        assert dimensions in published_dimension_sets(metric[1], metric[0]), metric


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_dashboard_link_is_a_stack_output(synthesized, stage):
    outputs = Template.from_stack(synthesized.stages[stage].dashboard).find_outputs("DashboardUrl")
    assert outputs


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_streaming_models_time_to_first_token_is_graphed_as_the_front_publishes_it(synthesized, bodies, stage):
    stage_ = synthesized.stages[stage]
    environment = Template.from_stack(stage_.api).find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "run.sh"}}
    )
    (front,) = environment.values()
    namespace = front["Properties"]["Environment"]["Variables"]["METRICS_NAMESPACE"]
    assert namespace == f"LLMHosting/{stage_.config.resource_prefix}"
    graphed = {tuple(metric[:4]) for metric in metrics(bodies[stage])}
    for model in stage_.config.streaming_models:
        # What the front prints for this model (lambda/streaming/stream_metrics.py), read back as
        # CloudWatch extracts it: namespace, metric name, and the dimension with its value.
        record = json.loads(stream_metrics.time_to_first_token_record(namespace, model, 0.1, timestamp_ms=0))
        [definition] = record["_aws"]["CloudWatchMetrics"]
        [[dimension]] = definition["Dimensions"]
        [published] = definition["Metrics"]
        assert (definition["Namespace"], published["Name"], dimension, record[dimension]) in graphed
