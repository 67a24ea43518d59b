"""Where async requests are recorded, and the intake that records SageMaker's notifications."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.alarms import AlarmRecipients, notify_when
from stacks.constructs.python_function import PythonFunction

class RequestStore(Construct):
    """The requests and idempotency tables, and the notification intake that completes records.

    SageMaker publishes each result to the success or error topic; both feed one SQS queue, whose
    records the notifications function writes to the requests table. A notification that cannot be
    recorded returns to the queue, then goes to the dead-letter queue, which alarms.

    Give it the id "Default": CDK leaves that id out of logical ids, so these resources keep the
    ones they had when the API stack built them itself. Replacing them would lose request records,
    and replacing an SNS subscription or a queue policy by an identical one deletes the live one
    after creating its twin (SNS answers Subscribe with the existing subscription).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        key: kms.IKey,
        output_bucket: s3.IBucket,
        result_topics: list[sns.ITopic],
        alarm_recipients: AlarmRecipients,
        record_ttl_days: int,
        point_in_time_recovery: bool,
        reserved_concurrency: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.key = key
        self.requests_table = self._table(
            "Requests", key="inference_id", ttl="expires_at", pitr=point_in_time_recovery, removal=removal_policy
        )
        # Powertools idempotency records: the first answer to each (caller, Idempotency-Key).
        self.idempotency_table = self._table(
            "Idempotency", key="id", ttl="expiration", pitr=point_in_time_recovery, removal=RemovalPolicy.DESTROY
        )
        self._acknowledge_table_findings(point_in_time_recovery)

        self.dead_letters = sqs.Queue(
            self,
            "NotificationDeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        function_timeout = Duration.seconds(30)
        self.notification_queue = sqs.Queue(
            self,
            "Notifications",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            # Lambda's guidance: at least six times the consumer's timeout.
            visibility_timeout=Duration.seconds(function_timeout.to_seconds() * 6),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=5),
            removal_policy=removal_policy,
        )
        for topic in result_topics:
            topic.add_subscription(subscriptions.SqsSubscription(self.notification_queue))

        self.notification_function = PythonFunction(
            self,
            "NotificationHandler",
            name="notifications",
            description="Records async inference results from SageMaker's SNS notifications",
            environment={
                "REQUESTS_TABLE": self.requests_table.table_name,
                "OUTPUT_BUCKET": output_bucket.bucket_name,
                # Expiry of a record that a notification creates before its submit claims it.
                "REQUEST_RECORD_TTL_DAYS": str(record_ttl_days),
            },
            key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
            reserved_concurrency=reserved_concurrency,
            timeout=function_timeout,
            failure_handling=(
                "Invoked by an SQS event source mapping: failed messages return to the queue and, after "
                "five receives, go to the queue's dead-letter queue, which alarms."
            ),
        )
        self.notification_function.function.add_event_source(
            event_sources.SqsEventSource(self.notification_queue, batch_size=10, report_batch_item_failures=True)
        )
        self.notification_function.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[self.requests_table.table_arn])
        )
        key.grant(self.notification_function.role, "kms:Decrypt", "kms:GenerateDataKey")

        notify_when(
            self,
            "DeadLettersNotEmpty",
            description="Inference notifications could not be recorded: their requests look InProgress",
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            recipients=alarm_recipients,
        )

    def grant_submit_and_read(self, grantee: iam.IGrantable) -> None:
        """What the async API needs: its own request records, and the idempotency records."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[self.requests_table.table_arn]
            )
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[self.idempotency_table.table_arn],
            )
        )
        self.key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")

    def _table(self, id: str, *, key: str, ttl: str, pitr: bool, removal: RemovalPolicy) -> dynamodb.Table:
        # TableV2 cannot render a customer-managed key in a region-agnostic stack (Dev); Table can.
        return dynamodb.Table(
            self,
            id,
            partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=ttl,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=pitr
            ),
            removal_policy=removal,
        )

    def _acknowledge_table_findings(self, point_in_time_recovery: bool) -> None:
        Validations.of(self.requests_table.node.default_child).acknowledge(
            Acknowledgment(
                id="NIST.800.53.R5-DynamoDBInBackupPlan",
                reason="Records live for days (TTL); point-in-time recovery, set per environment, is their backup.",
            )
        )
        Validations.of(self.idempotency_table.node.default_child).acknowledge(
            Acknowledgment(
                id="NIST.800.53.R5-DynamoDBInBackupPlan",
                reason="Idempotency records expire within an hour and only deduplicate retries; nothing to restore.",
            )
        )
        if not point_in_time_recovery:
            reason = "This environment's config turns point-in-time recovery off: its request records are disposable."
            for table in (self.requests_table, self.idempotency_table):
                Validations.of(table.node.default_child).acknowledge(
                    Acknowledgment(id="NIST.800.53.R5-DynamoDBPITREnabled", reason=reason),
                    Acknowledgment(id="AwsSolutions-DDB3", reason=reason),
                )
