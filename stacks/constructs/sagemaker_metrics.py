"""Which dimensions SageMaker publishes each metric with, and the one way to build such a metric.

CloudWatch matches a metric only on its exact dimension set: an alarm on `InvocationFailures` with
`EndpointName` alone sees no data and stays OK forever, because SageMaker publishes it with
`EndpointName` and `VariantName`. Every `metric_*()` of the endpoint constructs goes through
`sagemaker_metric`, which takes the dimension names from these tables; a metric that is not in
them cannot be built, and `tests/stacks/test_metric_dimensions.py` checks every alarm and
scaling policy of every template against them.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

NAMESPACE = "AWS/SageMaker"

ENDPOINT = ("EndpointName",)
ENDPOINT_VARIANT = ("EndpointName", "VariantName")
INFERENCE_COMPONENT = ("InferenceComponentName",)

# SageMaker developer guide, "Alarms and logs for tracking metrics from asynchronous endpoints"
# (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-monitor.html): the exhaustive
# list for async endpoints. Invocations, InvocationsPerInstance and OverheadLatency are not
# published for them at all.
ASYNC_ENDPOINT_METRICS: Mapping[str, tuple[str, ...]] = {
    "Invocation4XXErrors": ENDPOINT_VARIANT,
    "Invocation5XXErrors": ENDPOINT_VARIANT,
    "ModelLatency": ENDPOINT_VARIANT,
    "ApproximateBacklogSize": ENDPOINT,
    "ApproximateBacklogSizePerInstance": ENDPOINT,
    "ApproximateAgeOfOldestRequest": ENDPOINT,
    "HasBacklogWithoutCapacity": ENDPOINT,
    "RequestDownloadFailures": ENDPOINT_VARIANT,
    "ResponseUploadFailures": ENDPOINT_VARIANT,
    "NotificationFailures": ENDPOINT_VARIANT,
    "InvocationFailures": ENDPOINT_VARIANT,
    "TimeInBacklog": ENDPOINT_VARIANT,
    "TotalProcessingTime": ENDPOINT_VARIANT,
}

# SageMaker developer guide, "Amazon SageMaker AI metrics in Amazon CloudWatch", endpoint
# invocation metrics and their dimensions: requests to an inference component are published with
# `InferenceComponentName` (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html);
# "Scale an endpoint to zero instances" alarms on NoCapacityInvocationFailures with that dimension
# (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html).
INFERENCE_COMPONENT_METRICS: Mapping[str, tuple[str, ...]] = {
    "Invocations": INFERENCE_COMPONENT,
    "InvocationsPerCopy": INFERENCE_COMPONENT,
    "Invocation4XXErrors": INFERENCE_COMPONENT,
    "Invocation5XXErrors": INFERENCE_COMPONENT,
    "ModelLatency": INFERENCE_COMPONENT,
    "OverheadLatency": INFERENCE_COMPONENT,
    "ConcurrentRequestsPerCopy": INFERENCE_COMPONENT,
    "NoCapacityInvocationFailures": INFERENCE_COMPONENT,
}

# Instance and copy utilization, in their own namespaces, same developer guide page: an endpoint's
# instances report with EndpointName and VariantName; each copy of an inference component reports
# with InferenceComponentName. Both exist only while an instance or a copy runs, which is what the
# idle tail uses them for (their SampleCount counts what runs; async-inference-troubleshooting).
ENDPOINT_INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
ENDPOINT_INSTANCE_METRICS: Mapping[str, tuple[str, ...]] = {
    "CPUUtilization": ENDPOINT_VARIANT,
}
INFERENCE_COMPONENT_COPY_NAMESPACE = "/aws/sagemaker/InferenceComponents"
INFERENCE_COMPONENT_COPY_METRICS: Mapping[str, tuple[str, ...]] = {
    "CPUUtilizationNormalized": INFERENCE_COMPONENT,
}

PUBLISHED: Mapping[str, tuple[Mapping[str, tuple[str, ...]], ...]] = {
    NAMESPACE: (ASYNC_ENDPOINT_METRICS, INFERENCE_COMPONENT_METRICS),
    ENDPOINT_INSTANCE_NAMESPACE: (ENDPOINT_INSTANCE_METRICS,),
    INFERENCE_COMPONENT_COPY_NAMESPACE: (INFERENCE_COMPONENT_COPY_METRICS,),
}
"""The tables of each namespace SageMaker publishes in."""


def published_dimension_sets(metric_name: str, namespace: str) -> set[frozenset[str]]:
    """Every dimension-name set SageMaker publishes `metric_name` with in `namespace`, across its tables."""
    return {frozenset(table[metric_name]) for table in PUBLISHED.get(namespace, ()) if metric_name in table}


def sagemaker_metric(
    table: Mapping[str, tuple[str, ...]],
    metric_name: str,
    *,
    identity: Mapping[str, str],
    statistic: str,
    period: Duration,
    namespace: str = NAMESPACE,
) -> cloudwatch.Metric:
    """`metric_name` with exactly the dimensions `table` (of `namespace`) says, valued from `identity`."""
    if metric_name not in table:
        raise ValueError(f"SageMaker publishes no {metric_name!r} for this resource; known: {', '.join(table)}")
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=metric_name,
        dimensions_map={name: identity[name] for name in table[metric_name]},
        statistic=statistic,
        period=period,
    )
