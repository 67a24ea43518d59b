"""Every alarm and scaling policy on a SageMaker metric uses the dimension set SageMaker publishes.

CloudWatch matches only the exact dimension set, so a wrong one is an alarm that never fires.
The table is `stacks/constructs/sagemaker_metrics.py`; this checks every synthesized template,
the pipeline's stages included.
"""

from __future__ import annotations

import json

import pytest

from stacks.constructs.sagemaker_metrics import PUBLISHED, published_dimension_sets


def sagemaker_metrics_in(assembly_dir) -> list[tuple[str, str, frozenset[str]]]:
    """(template resource, metric name, dimension names) of every SageMaker metric an alarm or a
    target-tracking policy watches."""
    found = []
    for path in sorted(assembly_dir.rglob("*.template.json")):
        resources = json.loads(path.read_text()).get("Resources", {})
        for logical_id, resource in resources.items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::CloudWatch::Alarm":
                watched = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
            elif resource["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy":
                tracking = props.get("TargetTrackingScalingPolicyConfiguration", {})
                watched = [tracking["CustomizedMetricSpecification"]] if "CustomizedMetricSpecification" in tracking else []
            else:
                continue
            for metric in watched:
                if metric.get("Namespace") in PUBLISHED:
                    names = frozenset(d["Name"] for d in metric.get("Dimensions", []))
                    found.append((f"{path.name}:{logical_id}", metric["Namespace"], metric["MetricName"], names))
    return found


def test_every_sagemaker_alarm_and_scaling_metric_uses_its_published_dimensions(synthesized):
    watched = sagemaker_metrics_in(synthesized.assembly_dir)
    # Dev, PreProd, Prod (the pipeline deploys these same Stages): async and streaming alarms in each.
    assert len(watched) >= 3 * 6
    wrong = [
        f"{where}: {namespace} {metric} with {sorted(names)}; published with "
        f"{[sorted(s) for s in published_dimension_sets(metric, namespace)]}"
        for where, namespace, metric, names in watched
        if names not in published_dimension_sets(metric, namespace)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_idle_tails_utilization_metrics_are_checked_in_their_own_namespaces(synthesized):
    # The idle scale-in alarms watch instance and copy utilization, outside AWS/SageMaker.
    namespaces = {namespace for _, namespace, _, _ in sagemaker_metrics_in(synthesized.assembly_dir)}
    assert {"/aws/sagemaker/Endpoints", "/aws/sagemaker/InferenceComponents"} <= namespaces


@pytest.mark.parametrize("metric", ["InvocationFailures", "NotificationFailures"])
def test_async_failure_alarms_watch_the_endpoint_and_its_variant(synthesized, metric):
    watched = [names for _, _, name, names in sagemaker_metrics_in(synthesized.assembly_dir) if name == metric]
    assert watched and set(watched) == {frozenset({"EndpointName", "VariantName"})}


def test_a_metric_sagemaker_does_not_publish_cannot_be_built(synthesized):
    endpoint = synthesized.stages["Prod"].async_inference.models["chat"].endpoint
    # Async endpoints publish no Invocations metric (async-inference-monitor).
    with pytest.raises(ValueError, match="publishes no 'Invocations'"):
        endpoint.metric("Invocations", statistic="Sum")
