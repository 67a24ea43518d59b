"""One CloudWatch dashboard per environment: for each model, whether scale to zero and requests behave.

Every SageMaker metric comes from the endpoint constructs' `metric()`, so it carries exactly the
dimensions SageMaker publishes it with (stacks/constructs/sagemaker_metrics.py); a widget cannot
silently show nothing because of a wrong dimension set.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from stacks.api_stack import ApiStack
from stacks.async_inference_stack import AsyncInferenceStack
from stacks.config import EnvironmentConfig
from stacks.constructs.async_endpoint import AsyncInferenceEndpoint
from stacks.constructs.inference_component import InferenceComponentModel
from stacks.constructs.streaming_front import StreamingFront
from stacks.streaming_stack import StreamingStack

WIDTH = 6  # four widgets to a row of 24 columns
FIVE_MINUTES = Duration.minutes(5)


def _graph(title: str, left: list[cloudwatch.IMetric], right: list[cloudwatch.IMetric] | None = None) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=left, right=right or [], width=WIDTH, height=6)


def async_model_widgets(model: str, endpoint: AsyncInferenceEndpoint) -> list[cloudwatch.IWidget]:
    return [
        _graph(
            f"{model} (async): queue",
            [endpoint.metric("ApproximateBacklogSize", statistic="Maximum").with_(label="requests queued or running")],
            [endpoint.metric("ApproximateAgeOfOldestRequest", statistic="Maximum").with_(label="oldest request (s)")],
        ),
        _graph(
            f"{model} (async): instances and wakes",
            [endpoint.metric_instances().with_(label="instances in service")],
            [endpoint.metric_has_backlog_without_capacity().with_(statistic="Maximum", label="waiting at zero (1 = a wake)")],
        ),
        _graph(
            f"{model} (async): latency (ms)",
            [
                endpoint.metric("TotalProcessingTime", statistic=p, period=FIVE_MINUTES).with_(label=f"total {p}")
                for p in ("p50", "p90", "p99")
            ]
            + [endpoint.metric("TimeInBacklog", statistic="p90", period=FIVE_MINUTES).with_(label="queued p90")],
        ),
        _graph(
            f"{model} (async): failures",
            [
                endpoint.metric(name, statistic="Sum", period=FIVE_MINUTES).with_(label=name)
                for name in ("InvocationFailures", "NotificationFailures", "RequestDownloadFailures", "ResponseUploadFailures")
            ],
        ),
    ]


def streaming_model_widgets(
    model: str, component: InferenceComponentModel, front: StreamingFront | None
) -> list[cloudwatch.IWidget]:
    widgets = [
        _graph(
            f"{model} (streaming): requests",
            [component.metric("Invocations", statistic="Sum").with_(label="invocations")],
            [component.metric("ConcurrentRequestsPerCopy", statistic="Maximum").with_(label="concurrent per copy")],
        ),
        _graph(
            f"{model} (streaming): copies and wakes",
            [component.metric_running_copies().with_(label="copies reporting (> 0 while any runs)")],
            [component.metric_no_capacity_invocation_failures().with_(label="refused at zero copies (a held caller retries until a copy runs)")],
        ),
        _graph(
            f"{model} (streaming): model latency (us)",
            [component.metric("ModelLatency", statistic=p, period=FIVE_MINUTES).with_(label=p) for p in ("p50", "p90", "p99")],
        ),
        _graph(
            f"{model} (streaming): errors",
            [
                component.metric(name, statistic="Sum", period=FIVE_MINUTES).with_(label=name)
                for name in ("Invocation4XXErrors", "Invocation5XXErrors")
            ],
        ),
    ]
    if front is not None:
        widgets.append(
            _graph(
                f"{model} (streaming): time to first token (ms, a wake included)",
                [front.metric_time_to_first_token(model, statistic=p).with_(label=p) for p in ("p50", "p90", "p99")],
            )
        )
    return widgets


def api_widgets(api: ApiStack) -> list[cloudwatch.IWidget]:
    rest_api = api.api
    return [
        _graph(
            "API: requests and errors",
            [rest_api.metric_count(period=FIVE_MINUTES).with_(label="requests")],
            [
                rest_api.metric_client_error(period=FIVE_MINUTES).with_(label="4xx"),
                rest_api.metric_server_error(period=FIVE_MINUTES).with_(label="5xx"),
            ],
        ),
        _graph(
            "API: latency (ms)",
            [rest_api.metric_latency(statistic=p, period=FIVE_MINUTES).with_(label=p) for p in ("p50", "p99")],
        ),
        _graph(
            "Notifications that could not be recorded (dead-letter queue)",
            [api.store.dead_letters.metric_approximate_number_of_messages_visible(statistic="Maximum").with_(label="messages")],
        ),
    ]


class DashboardStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EnvironmentConfig,
        async_inference: AsyncInferenceStack,
        streaming: StreamingStack | None,
        api: ApiStack | None,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        name = f"{config.resource_prefix}-models"
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=name, default_interval=Duration.hours(3))
        for model_name, model in async_inference.models.items():
            dashboard.add_widgets(*async_model_widgets(model_name, model.endpoint))
        front = api.streaming_front if api is not None else None
        for model_name, model in (streaming.models if streaming else {}).items():
            dashboard.add_widgets(*streaming_model_widgets(model_name, model.component, front))
        if api is not None:
            dashboard.add_widgets(*api_widgets(api))
        CfnOutput(
            self,
            "DashboardUrl",
            value=f"https://console.aws.amazon.com/cloudwatch/home?region={self.region}#dashboards/dashboard/{name}",
        )
