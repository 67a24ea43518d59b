"""Reading SageMaker async notifications out of SQS bodies (SNS envelope), without any emulator."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handler_harness import OUTPUT_BUCKET, sagemaker_notification
from inference_common.s3_location import S3Location
from sagemaker_notification import MalformedNotification, parse_notification

INFERENCE_ID = "8f0e2b9c-3a4d-4e5f-8a6b-7c8d9e0f1a2b"
OUTPUT = f"s3://{OUTPUT_BUCKET}/outputs/{INFERENCE_ID}.out"


def sns_envelope(message: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Message": message,
            "Timestamp": "2026-01-01T00:00:06.000Z",
        }
    )


def parse(notification: dict) -> object:
    return parse_notification(sns_envelope(json.dumps(notification)), output_bucket=OUTPUT_BUCKET)


def test_completed_notification_yields_output_location_and_event_time():
    outcome = parse(
        sagemaker_notification(INFERENCE_ID, "Completed", event_time="2026-01-01T00:00:05.123Z", output_location=OUTPUT)
    )

    assert outcome.inference_id == INFERENCE_ID
    assert outcome.status == "Completed"
    assert outcome.output_location == S3Location.parse(OUTPUT)
    assert outcome.event_time == datetime(2026, 1, 1, 0, 0, 5, 123000, tzinfo=UTC)


def test_failed_notification_yields_failure_reason():
    outcome = parse(
        sagemaker_notification(
            INFERENCE_ID,
            "Failed",
            event_time="2026-01-01T00:00:05.000Z",
            failure_reason="ClientError: Received server error (500)",
        )
    )

    assert outcome.status == "Failed"
    assert outcome.failure_reason == "ClientError: Received server error (500)"
    assert outcome.output_location is None


def test_raw_delivery_body_without_sns_envelope_is_malformed():
    raw = json.dumps(
        sagemaker_notification(INFERENCE_ID, "Completed", event_time="2026-01-01T00:00:05.000Z", output_location=OUTPUT)
    )

    with pytest.raises(MalformedNotification):
        parse_notification(raw, output_bucket=OUTPUT_BUCKET)


@pytest.mark.parametrize(
    "breakage",
    [
        {"invocationStatus": "InProgress"},
        {"inferenceId": ""},
        {"eventTime": "yesterday"},
        {"eventTime": "2026-01-01T00:00:05"},  # no time zone: cannot be ordered against others
        {"responseParameters": {}},  # Completed without an output location
        {"responseParameters": {"outputLocation": "s3://someone-elses-bucket/outputs/x.out"}},
        {"responseParameters": {"outputLocation": f"s3://{OUTPUT_BUCKET}/failures/x.out"}},
        {"responseParameters": True},
        {"responseParameters": ["s3://x"]},
        {"eventTime": "0001-01-01T00:00:00+01:00"},  # before year 1 once in UTC
    ],
)
def test_notifications_missing_what_we_record_are_malformed(breakage):
    notification = sagemaker_notification(
        INFERENCE_ID, "Completed", event_time="2026-01-01T00:00:05.000Z", output_location=OUTPUT
    )
    notification.update(breakage)

    with pytest.raises(MalformedNotification):
        parse(notification)


@pytest.mark.parametrize("body", ["not json", "[]", sns_envelope("not json"), sns_envelope("[1]")])
def test_bodies_that_are_not_json_objects_are_malformed(body):
    with pytest.raises(MalformedNotification):
        parse_notification(body, output_bucket=OUTPUT_BUCKET)


@pytest.mark.parametrize(
    "message",
    [
        "[" * 5000 + "]" * 5000,
        '{"inferenceId": ' + "7" * 5000 + "}",
        '{"inferenceId": "\\ud800", "eventTime": "2026-01-01T00:00:05Z", "invocationStatus": "Failed"}',
        '{"inferenceId": "abc", "eventTime": NaN, "invocationStatus": "Failed"}',
    ],
    ids=["deep-nesting", "huge-integer", "lone-surrogate", "nan"],
)
def test_messages_that_are_not_strict_json_are_malformed(message):
    with pytest.raises(MalformedNotification):
        parse_notification(sns_envelope(message), output_bucket=OUTPUT_BUCKET)


def test_an_envelope_nested_past_the_recursion_limit_is_malformed():
    with pytest.raises(MalformedNotification):
        parse_notification("[" * 5000 + "]" * 5000, output_bucket=OUTPUT_BUCKET)


# --- Any SQS body: an outcome this deployment can record, or MalformedNotification ---

anything = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30), st.lists(st.integers()))
field_values = {
    "inferenceId": st.one_of(st.just(INFERENCE_ID), st.text(max_size=40), anything),
    "eventTime": st.one_of(
        st.just("2026-01-01T00:00:05.000Z"), st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=30), anything
    ),
    "invocationStatus": st.one_of(st.sampled_from(["Completed", "Failed", "InProgress", ""]), anything),
    "failureReason": st.one_of(st.text(max_size=40), anything),
    "responseParameters": st.one_of(
        st.fixed_dictionaries(
            {"outputLocation": st.one_of(st.just(OUTPUT), st.text(max_size=60).map(lambda k: f"s3://{OUTPUT_BUCKET}/{k}"),
                                         st.text(max_size=60), anything)}
        ),
        anything,
    ),
}
notifications = st.fixed_dictionaries({}, optional=field_values)
messages = st.one_of(notifications.map(json.dumps), st.text(max_size=200))
sqs_bodies = st.one_of(
    messages.map(sns_envelope),
    st.fixed_dictionaries({}, optional={"Type": st.sampled_from(["Notification", "SubscriptionConfirmation"]) | anything,
                                        "Message": messages | anything}).map(json.dumps),
    st.text(max_size=200),
)


@given(sqs_bodies)
def test_any_sqs_body_is_a_recordable_outcome_or_malformed(body):
    try:
        outcome = parse_notification(body, output_bucket=OUTPUT_BUCKET)
    except MalformedNotification:
        return
    assert isinstance(outcome.inference_id, str) and outcome.inference_id
    assert outcome.event_time.tzinfo is not None
    if outcome.status == "Completed":
        assert outcome.output_location.is_under(OUTPUT_BUCKET, "outputs/")
        assert outcome.failure_reason is None
    else:
        assert outcome.status == "Failed" and isinstance(outcome.failure_reason, str) and outcome.failure_reason
