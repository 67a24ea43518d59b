"""Scale a SageMaker scalable target to zero once it has been idle, and never while it works."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from constructs import Construct

_MINUTE = Duration.minutes(1)


class IdleScaleIn(Construct):
    """A step policy to exactly zero, fired after `idle_minutes` one-minute datapoints of idleness.

    Idle means: capacity runs (`running` has samples) and none of the `activity` metrics saw
    anything (queued or in-process requests, invocations, open streams, refused requests). Target
    tracking's own scale-in needs its managed low alarm (many consecutive datapoints plus
    cooldowns) and counts a stream only when it starts; this alarm is the only scale-in.

    `running > 0` matters: Auto Scaling actions repeat while their alarm stays in ALARM, so an idle
    alarm that stayed in ALARM at zero would undo every wake within a minute. With no capacity the
    expression reads 0 and the alarm is OK. Missing data is not breaching: no scale-in without
    evidence of idleness. See docs/scale-to-zero.md.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        target: appscaling.ScalableTarget,
        running: cloudwatch.IMetric,
        activity: list[cloudwatch.IMetric],
        idle_minutes: int,
        description: str,
        policy_name: str,
    ) -> None:
        super().__init__(scope, id)
        activity_ids = [f"activity{index}" for index in range(len(activity))]
        busy = " + ".join(f"FILL({name}, 0)" for name in activity_ids)
        self.idle = cloudwatch.MathExpression(
            expression=f"IF(FILL(running, 0) > 0 AND ({busy}) == 0, 1, 0)",
            using_metrics={"running": running, **dict(zip(activity_ids, activity))},
            period=_MINUTE,
            label="1 while capacity runs with nothing to do",
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_description=description,
            metric=self.idle,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=idle_minutes,
            datapoints_to_alarm=idle_minutes,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.action = appscaling.StepScalingAction(
            self,
            "ScaleInToZero",
            policy_name=policy_name,
            scaling_target=target,
            adjustment_type=appscaling.AdjustmentType.EXACT_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
            cooldown=_MINUTE,
        )
        self.action.add_adjustment(adjustment=0, lower_bound=0)
        self.alarm.add_alarm_action(cw_actions.ApplicationScalingAction(self.action))
