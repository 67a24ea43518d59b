"""Scale an async endpoint between its bounds on the request backlog, including from and to zero."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.constructs.async_endpoint import AsyncInferenceEndpoint
from stacks.constructs.idle_scale_in import IdleScaleIn
from stacks.constructs.sagemaker_scaling import (
    add_one_when,
    alarm_arn,
    grant_wake,
    policy_name,
    sagemaker_scalable_target,
    wake_alarm_name_for,
)


class BacklogScaling(Construct):
    """Target tracking on backlog per instance, plus a step policy that leaves zero instances.

    Target tracking alone never leaves zero: with no instance, ApproximateBacklogSizePerInstance
    cannot exceed its target. HasBacklogWithoutCapacity reads 1 exactly while requests wait and no
    instance runs, so an alarm on it (2 of 2 one-minute datapoints) adds one instance about two
    minutes after the first request queues. It never scales in: the metric reads 0 whenever any
    instance runs. When both policies fire, Application Auto Scaling takes the larger capacity.

    The alarm is also the API's wake: `grant_wake` lets a function set it to ALARM the moment a
    request finds no instance, instead of waiting two minutes for its datapoints.

    With a minimum of zero, target tracking only scales out, and `IdleScaleIn` takes the endpoint to
    zero after `idle_minutes` with nothing queued or in process (docs/scale-to-zero.md).
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
        wake_cooldown: Duration,
        idle_minutes: int,
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

        scales_to_zero = min_capacity == 0
        self.target.scale_to_track_metric(
            "BacklogPerInstance",
            policy_name=policy_name(endpoint.endpoint_name, "backlog-per-instance"),
            target_value=target_backlog_per_instance,
            custom_metric=endpoint.metric_backlog_size_per_instance(),
            scale_in_cooldown=scale_in_cooldown,
            scale_out_cooldown=scale_out_cooldown,
            # Scaling to zero, the idle policy alone scales in: never while a request is queued or in process.
            disable_scale_in=scales_to_zero,
        )

        self._endpoint = endpoint
        wake_alarm_name = wake_alarm_name_for(endpoint.endpoint_name)
        self.wake_alarm_arn = alarm_arn(self, wake_alarm_name)
        self.backlog_without_capacity_alarm = cloudwatch.Alarm(
            self,
            "BacklogWithoutCapacity",
            alarm_name=wake_alarm_name,
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
            cooldown=wake_cooldown,
            aggregation=appscaling.MetricAggregationType.AVERAGE,
        )
        self.idle_scale_in = (
            IdleScaleIn(
                self,
                "IdleScaleIn",
                target=self.target,
                running=endpoint.metric_instances(),
                # ApproximateBacklogSize counts queued and in-process requests.
                activity=[endpoint.metric("ApproximateBacklogSize", statistic="Maximum")],
                idle_minutes=idle_minutes,
                description=f"{endpoint.endpoint_name} ran {idle_minutes} min with nothing queued or in process: go to zero",
                policy_name=policy_name(endpoint.endpoint_name, "scale-in-when-idle"),
            )
            if scales_to_zero
            else None
        )

    def grant_wake(self, grantee: iam.IGrantable) -> iam.Grant:
        """Permit reading this endpoint's instance counts and setting its wake alarm, nothing else."""
        return grant_wake(
            grantee,
            wake_alarm_arn=self.wake_alarm_arn,
            describe_action="sagemaker:DescribeEndpoint",
            described_arn=self._endpoint.endpoint_arn,
        )
