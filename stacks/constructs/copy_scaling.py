"""Scale an inference component's copies on invocations, and bring it back from zero copies."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.constructs.alarms import AlarmRecipients
from stacks.constructs.idle_scale_in import IdleScaleIn
from stacks.constructs.sagemaker_scaling import (
    add_one_when,
    alarm_arn,
    grant_wake,
    policy_name,
    sagemaker_scalable_target,
    wake_alarm_name_for,
)
from stacks.constructs.inference_component import InferenceComponentModel


class CopyScaling(Construct):
    """Target tracking on invocations per copy; with scale to zero, a step policy leaves zero.

    With zero copies there are no invocations per copy to track, and requests fail with
    NoCapacityInvocationFailures instead. An alarm on that metric (Sum over 60 s >= 1) adds one
    copy; managed instance scaling then starts an instance for it. The alarm is also the streaming
    front's wake (`grant_wake`): the front sets it to ALARM the moment a request finds no copy, and
    holds the caller until one runs. With scale to zero, target tracking only scales out, and
    `IdleScaleIn` takes the copies to zero after `idle_minutes` with no invocation, no open stream
    and no refused request. Without scale to zero, the same alarm goes to the alarm recipients:
    there it means the minimum capacity is not enough.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        component: InferenceComponentModel,
        scale_to_zero: bool,
        min_copies: int,
        max_copies: int,
        target_invocations_per_copy: float,
        scale_in_cooldown: Duration,
        scale_out_cooldown: Duration,
        wake_cooldown: Duration,
        alarm_recipients: AlarmRecipients,
        idle_minutes: int,
    ) -> None:
        super().__init__(scope, id)
        self.target = sagemaker_scalable_target(
            self,
            resource_id=f"inference-component/{component.inference_component_name}",
            scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
            min_capacity=0 if scale_to_zero else min_copies,
            max_capacity=max_copies,
        )
        self.target.node.add_dependency(component.inference_component)
        self.target.scale_to_track_metric(
            "InvocationsPerCopy",
            policy_name=policy_name(component.inference_component_name, "invocations-per-copy"),
            target_value=target_invocations_per_copy,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY,
            scale_in_cooldown=scale_in_cooldown,
            scale_out_cooldown=scale_out_cooldown,
            # Invocations count a stream once, when it starts: with scale to zero, the idle policy
            # alone scales in, and never while a stream is open.
            disable_scale_in=scale_to_zero,
        )

        self._component = component
        # Only a scale-to-zero alarm is a wake; the other one pages and keeps its generated name.
        wake_alarm_name = wake_alarm_name_for(component.inference_component_name) if scale_to_zero else None
        self.wake_alarm_arn = alarm_arn(self, wake_alarm_name) if wake_alarm_name else None
        self.no_capacity_alarm = cloudwatch.Alarm(
            self,
            "NoCapacity",
            alarm_name=wake_alarm_name,
            alarm_description=(
                f"Requests to {component.inference_component_name} failed for lack of a copy"
                + (": add one" if scale_to_zero else ": the minimum capacity is not enough")
            ),
            metric=component.metric_no_capacity_invocation_failures(),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
        )
        if scale_to_zero:
            self.scale_out_from_zero = add_one_when(
                self,
                self.no_capacity_alarm,
                target=self.target,
                name=policy_name(component.inference_component_name, "scale-out-from-zero"),
                cooldown=wake_cooldown,
                aggregation=appscaling.MetricAggregationType.MAXIMUM,
            )
        else:
            alarm_recipients.notify(self.no_capacity_alarm)
        self.idle_scale_in = (
            IdleScaleIn(
                self,
                "IdleScaleIn",
                target=self.target,
                running=component.metric_running_copies(),
                activity=[
                    component.metric_invocations(),
                    component.metric_concurrent_requests_per_copy(),
                    # A request refused for lack of a copy is demand, not idleness.
                    component.metric_no_capacity_invocation_failures(),
                ],
                idle_minutes=idle_minutes,
                description=(
                    f"{component.inference_component_name} ran {idle_minutes} min with no invocation and no open "
                    "stream: go to zero copies"
                ),
                policy_name=policy_name(component.inference_component_name, "scale-in-when-idle"),
            )
            if scale_to_zero
            else None
        )

    def grant_wake(self, grantee: iam.IGrantable) -> iam.Grant:
        """Permit reading this inference component's copy counts and setting its wake alarm, nothing else."""
        if self.wake_alarm_arn is None:
            raise ValueError("only a component that scales to zero has a wake alarm")
        return grant_wake(
            grantee,
            wake_alarm_arn=self.wake_alarm_arn,
            describe_action="sagemaker:DescribeInferenceComponent",
            described_arn=self._component.inference_component_arn,
        )
