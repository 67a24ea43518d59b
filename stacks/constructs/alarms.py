"""Operational alarms, and the recipients every one of them notifies."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct


class AlarmRecipients(Construct):
    """The environment's alarm topic plus the existing topics that config names.

    Email subscriptions belong on the alarm topic itself (see `SecureTopic` in the stack that owns
    it); existing topics (a chat channel, a pager) cannot be subscribed to another topic, so every
    alarm publishes to each of them directly.
    """

    def __init__(self, scope: Construct, id: str, *, alarm_topic: sns.ITopic, topic_arns: Sequence[str]) -> None:
        super().__init__(scope, id)
        self.topics: tuple[sns.ITopic, ...] = (
            alarm_topic,
            *(sns.Topic.from_topic_arn(self, f"Existing{index}", arn) for index, arn in enumerate(topic_arns)),
        )

    def notify(self, alarm: cloudwatch.Alarm) -> None:
        for topic in self.topics:
            alarm.add_alarm_action(cw_actions.SnsAction(topic))


def notify_when(
    scope: Construct,
    id: str,
    *,
    metric: cloudwatch.IMetric,
    threshold: float,
    description: str,
    recipients: AlarmRecipients,
    evaluation_periods: int = 1,
    comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
) -> cloudwatch.Alarm:
    """An alarm on `metric` crossing `threshold` that tells `recipients`; no data is not a breach."""
    alarm = cloudwatch.Alarm(
        scope,
        id,
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        comparison_operator=comparison,
        evaluation_periods=evaluation_periods,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    recipients.notify(alarm)
    return alarm
