"""Scale an async endpoint between its bounds on the request backlog, including from and to zero."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from stacks.constructs.async_endpoint import AsyncInferenceEndpoint
from stacks.constructs.sagemaker_scaling import add_one_when, policy_name, sagemaker_scalable_target


class BacklogScaling(Construct):
    """Target tracking on backlog per instance, plus a step policy that leaves zero instances.

    Target tracking alone never leaves zero: with no instance, ApproximateBacklogSizePerInstance
    cannot exceed its target. HasBacklogWithoutCapacity reads 1 exactly while requests wait and no
    instance runs, so an alarm on it (2 of 2 one-minute datapoints) adds one instance about two
    minutes after the first request queues. It never scales in: the metric reads 0 whenever any
    instance runs. When both policies fire, Application Auto Scaling takes the larger capacity.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: AsyncInferenceEndpoint,
        min_capacity: int,
        max_capacity: int,
        target_backlog_per_instance: float,
        scale_in_cooldown: Duration,
        scale_out_cooldown: Duration,
    ) -> None:
        super().__init__(scope, id)
        self.target = sagemaker_scalable_target(
            self,
            resource_id=f"endpoint/{endpoint.endpoint_name}/variant/{endpoint.variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=min_capacity,
            max_capacity=max_capacity,
        )
        # The resource id is a plain string, so the dependency on the endpoint must be explicit.
        self.target.node.add_dependency(endpoint.endpoint)

        self.target.scale_to_track_metric(
            "BacklogPerInstance",
            policy_name=policy_name(endpoint.endpoint_name, "backlog-per-instance"),
            target_value=target_backlog_per_instance,
            custom_metric=endpoint.metric_backlog_size_per_instance(),
            scale_in_cooldown=scale_in_cooldown,
            scale_out_cooldown=scale_out_cooldown,
        )

        self.backlog_without_capacity_alarm = cloudwatch.Alarm(
            self,
            "BacklogWithoutCapacity",
            alarm_description=f"Requests wait on {endpoint.endpoint_name} and no instance runs: add one",
            metric=endpoint.metric_has_backlog_without_capacity(),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
        )
        self.scale_out_from_zero = add_one_when(
            self,
            self.backlog_without_capacity_alarm,
            target=self.target,
            name=policy_name(endpoint.endpoint_name, "scale-out-from-zero"),
            cooldown=scale_out_cooldown,
            aggregation=appscaling.MetricAggregationType.AVERAGE,
        )
