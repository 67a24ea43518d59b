"""An SNS topic that is encrypted, SSL-only, and open to exactly the publishers it names.

A topic policy replaces SNS's default policy, which let the owning account publish. Once the
SSL-only statement exists, a publisher that is an AWS service (CloudWatch alarms publish as
`cloudwatch.amazonaws.com`, not as a role) gets in only through an Allow in this policy and, for an
encrypted topic, through the key policy. `SecureTopic` therefore cannot be built without naming
its publishers, and each publisher brings both grants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct


@dataclass(frozen=True)
class TopicPublisher:
    """Who publishes to a topic: its topic-policy statement and what it needs from the topic's key."""

    statement: Callable[[sns.ITopic], iam.PolicyStatement]
    key_grant: Callable[[kms.IKey], None]

    @staticmethod
    def cloudwatch_alarms(scope: Construct) -> TopicPublisher:
        """CloudWatch alarms of this account and region (re:Post Knowledge Center, "Why didn't I
        receive an SNS notification for my CloudWatch alarm trigger?"; SNS developer guide,
        "Example cases for Amazon SNS access control": aws:SourceAccount and aws:SourceArn)."""
        stack = Stack.of(scope)
        principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        alarms = stack.format_arn(
            service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )

        def statement(topic: sns.ITopic) -> iam.PolicyStatement:
            return iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[principal],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": alarms},
                },
            )

        def key_grant(key: kms.IKey) -> None:
            # SNS encrypts with a data key generated for the publisher, so the service needs both.
            key.grant(principal, "kms:Decrypt", "kms:GenerateDataKey*")

        return TopicPublisher(statement, key_grant)

    @staticmethod
    def iam_principals_of_this_account() -> TopicPublisher:
        """Principals of this account whose own IAM policy allows sns:Publish and the key (SNS's
        default policy, made explicit): SageMaker publishes async results with the endpoint's
        execution role, and that role's policy names this topic and key."""
        account = iam.AccountRootPrincipal()

        def statement(topic: sns.ITopic) -> iam.PolicyStatement:
            return iam.PolicyStatement(
                sid="AccountPrincipalsPublish",
                principals=[account],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
            )

        return TopicPublisher(statement, lambda _key: None)


class SecureTopic(sns.Topic):
    """`sns.Topic` with a customer-managed key, SSL-only, and a policy naming every publisher."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        key: kms.IKey,
        display_name: str,
        publishers: Sequence[TopicPublisher],
    ) -> None:
        if not publishers:
            raise ValueError(f"{id}: name at least one publisher; a topic nobody may publish to delivers nothing")
        super().__init__(scope, id, master_key=key, enforce_ssl=True, display_name=display_name)
        for publisher in publishers:
            self.add_to_resource_policy(publisher.statement(self))
            publisher.key_grant(key)
