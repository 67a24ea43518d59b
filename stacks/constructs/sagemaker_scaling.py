"""Pieces both SageMaker scaling constructs share: the scalable target and the step out of zero."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from constructs import Construct

# Application Auto Scaling acts through its service-linked role for SageMaker (created on first
# use); without naming it, CDK would add an empty role that the service does not need.
_SERVICE_LINKED_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


# The API functions name a wake alarm by this convention (lambda/shared/inference_common/capacity.py),
# so no CloudFormation export ties the API stack to the stack that owns the alarm.
WAKE_ALARM_SUFFIX = "-wake"


def wake_alarm_name_for(resource_name: str) -> str:
    return f"{resource_name}{WAKE_ALARM_SUFFIX}"


def alarm_arn(scope: Construct, alarm_name: str) -> str:
    return Stack.of(scope).format_arn(
        service="cloudwatch", resource="alarm", resource_name=alarm_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


def grant_wake(
    grantee: iam.IGrantable, *, wake_alarm_arn: str, describe_action: str, described_arn: str
) -> iam.Grant:
    """What the API functions need to wake a resource at the first request (docs/scale-to-zero.md).

    They read the capacity from the control plane (`describe_action` on exactly that endpoint or
    inference component) and set exactly that wake alarm's state, whose action is the step policy.
    """
    describe = iam.Grant.add_to_principal(grantee=grantee, actions=[describe_action], resource_arns=[described_arn])
    wake = iam.Grant.add_to_principal(
        grantee=grantee, actions=["cloudwatch:SetAlarmState"], resource_arns=[wake_alarm_arn]
    )
    return describe.combine(wake)


def sagemaker_scalable_target(
    scope: Construct, *, resource_id: str, scalable_dimension: str, min_capacity: int, max_capacity: int
) -> appscaling.ScalableTarget:
    return appscaling.ScalableTarget(
        scope,
        "Target",
        service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
        resource_id=resource_id,
        scalable_dimension=scalable_dimension,
        min_capacity=min_capacity,
        max_capacity=max_capacity,
        role=iam.Role.from_role_arn(
            scope,
            "ServiceLinkedRole",
            Stack.of(scope).format_arn(service="iam", region="", resource="role", resource_name=_SERVICE_LINKED_ROLE),
        ),
    )


def policy_name(scaled_resource: str, purpose: str) -> str:
    """A scaling policy's name, carried by the name of the resource it scales.

    PolicyName and ScalingTargetId cannot change in place: when an instance-type change gives the
    endpoint (and so its scalable target) a new name, CloudFormation replaces the policies, and
    it cannot replace a resource whose custom name stays the same (CloudFormation template
    reference, AWS::ApplicationAutoScaling::ScalingPolicy: both are "Update requires:
    Replacement"). Deriving the name from the scaled resource makes the new policy a new name,
    and makes it the same whichever path (laptop or pipeline) deploys the stack.
    """
    return f"{scaled_resource}-{purpose}"


# AWS documents no launch time for a GPU instance; this is what the wake's cooldown allows for it
# on top of the container's own start bound (below).
INSTANCE_START_ALLOWANCE_SECONDS = 600


def wake_cooldown(startup_health_check_timeout_seconds: int) -> Duration:
    """The wake policy's cooldown: as long as capacity may take to start from zero.

    A step policy "will continue to respond to additional alarm breaches" until its alarm returns
    to OK, and during its cooldown the unit already added counts towards the next one (Application
    Auto Scaling User Guide, "Step scaling policies" and StepScalingPolicyConfiguration.Cooldown).
    A wake alarm stays in ALARM while the first unit starts (no capacity yet, requests still
    refused or queued), so a cooldown shorter than the start would add a second instance or copy
    for one request. As long as the start (an instance, then the container within its startup
    health check timeout), a repeat adds nothing while the first unit starts, and one more only if
    that start failed.
    """
    return Duration.seconds(INSTANCE_START_ALLOWANCE_SECONDS + startup_health_check_timeout_seconds)


def add_one_when(
    scope: Construct,
    alarm: cloudwatch.Alarm,
    *,
    target: appscaling.ScalableTarget,
    name: str,
    cooldown: Duration,
    aggregation: appscaling.MetricAggregationType,
) -> appscaling.StepScalingAction:
    """A step policy that adds one unit of capacity each time `alarm` fires, and never removes any."""
    action = appscaling.StepScalingAction(
        scope,
        "ScaleOutFromZero",
        policy_name=name,
        scaling_target=target,
        adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        metric_aggregation_type=aggregation,
        cooldown=cooldown,
    )
    action.add_adjustment(adjustment=1, lower_bound=0)
    alarm.add_alarm_action(cw_actions.ApplicationScalingAction(action))
    return action
