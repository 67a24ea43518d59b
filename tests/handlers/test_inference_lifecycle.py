"""GET /v1/inferences/{id} through the whole async path: submit, SageMaker's result and notification
(SNS -> SQS in moto), the notifications handler, then the caller's view."""

import json
import time

import pytest
import requests

from handler_harness import ALICE, BOB, OUTPUT_BUCKET, REQUESTS_TABLE, sagemaker_notification

RESULT = {"generated_text": "Silicon dreams hum / in racks of patient warmth / tokens drift like snow"}


@pytest.fixture
def submitted(api, moto_async_results):
    """Alice's submitted inference; moto's endpoint produces RESULT for it."""
    moto_async_results({"data": json.dumps(RESULT)})
    return api.submit({"inputs": "Write a haiku about GPUs"}).body["inference_id"]


def sagemaker_writes_output(aws, inference_id: str, *, prefix: str) -> str:
    """Act as the endpoint: moto wrote the result to a bucket of its own; SageMaker writes it to the
    endpoint config's S3OutputPath (or S3FailurePath), which is where the notification points."""
    [moto_bucket] = aws.moto_async_result_buckets()
    [moto_key] = aws.keys_under(moto_bucket, "")
    key = f"{prefix}{inference_id}.out"
    aws.s3.copy_object(Bucket=OUTPUT_BUCKET, Key=key, CopySource={"Bucket": moto_bucket, "Key": moto_key})
    return f"s3://{OUTPUT_BUCKET}/{key}"


def completed(inference_id: str, output_location: str, at: str = "2026-01-01T00:00:05.000Z") -> dict:
    return sagemaker_notification(inference_id, "Completed", event_time=at, output_location=output_location)


def failed(inference_id: str, at: str = "2026-01-01T00:00:05.000Z", reason: str = "model container crashed") -> dict:
    return sagemaker_notification(inference_id, "Failed", event_time=at, failure_reason=reason)


def test_submitted_inference_is_in_progress(api, submitted):
    answer = api.get(submitted)

    assert answer.status == 200
    assert answer.body["status"] == "InProgress"
    assert answer.body["inference_id"] == submitted
    assert answer.body["submitted_at"].endswith("Z")
    assert answer.body["completed_at"] is None
    assert "output_url" not in answer.body and "failure_reason" not in answer.body


def test_completed_inference_output_downloads_through_its_output_url(api, aws, notifications, submitted):
    output = sagemaker_writes_output(aws, submitted, prefix="outputs/")

    batch = notifications.deliver(completed(submitted, output, at="2026-01-01T00:00:05.000Z"))

    assert batch == {"batchItemFailures": []}
    answer = api.get(submitted)
    assert answer.body["status"] == "Completed"
    assert answer.body["completed_at"] == "2026-01-01T00:00:05.000Z"
    download = requests.get(answer.body["output_url"], timeout=10)
    assert download.status_code == 200
    assert download.json() == RESULT


def test_failed_inference_reports_its_failure_reason(api, notifications, submitted):
    notifications.deliver(failed(submitted, reason="ClientError: Received server error (500) from model"))

    answer = api.get(submitted)
    assert answer.body["status"] == "Failed"
    assert answer.body["failure_reason"] == "ClientError: Received server error (500) from model"
    assert answer.body["completed_at"] == "2026-01-01T00:00:05.000Z"
    assert "output_url" not in answer.body


def test_duplicate_notification_is_harmless(api, aws, notifications, submitted):
    output = sagemaker_writes_output(aws, submitted, prefix="outputs/")
    notification = completed(submitted, output)
    notifications.deliver(notification)
    before = api.get(submitted).body

    batch = notifications.deliver(notification)

    assert batch == {"batchItemFailures": []}
    after = api.get(submitted).body
    assert (after["status"], after["completed_at"]) == (before["status"], before["completed_at"])
    assert requests.get(after["output_url"], timeout=10).json() == RESULT


def test_older_notification_does_not_overwrite_a_newer_one(api, aws, notifications, submitted):
    output = sagemaker_writes_output(aws, submitted, prefix="outputs/")
    notifications.deliver(completed(submitted, output, at="2026-01-01T00:00:09.000Z"))

    batch = notifications.deliver(failed(submitted, at="2026-01-01T00:00:03.000Z"))

    assert batch == {"batchItemFailures": []}
    answer = api.get(submitted).body
    assert answer["status"] == "Completed"
    assert answer["completed_at"] == "2026-01-01T00:00:09.000Z"
    assert "failure_reason" not in answer


def test_notifications_in_one_batch_apply_by_event_time_not_arrival_order(api, aws, notifications, submitted):
    output = sagemaker_writes_output(aws, submitted, prefix="outputs/")

    notifications.deliver(
        completed(submitted, output, at="2026-01-01T00:00:09.000Z"),
        failed(submitted, at="2026-01-01T00:00:03.000Z"),
    )

    assert api.get(submitted).body["status"] == "Completed"


def test_notification_that_overtakes_the_submit_is_not_lost(api_on_scripted_runtime, scripted_runtime, notifications):
    def sagemaker_finishes_before_submit_records(invoke):
        inference_id = invoke.headers["x-amzn-sagemaker-inference-id"]
        notifications.deliver(failed(inference_id, reason="input not found"))

    scripted_runtime.on_invoke = sagemaker_finishes_before_submit_records

    submit = api_on_scripted_runtime.submit({"inputs": "Hello"})

    assert submit.status == 202
    answer = api_on_scripted_runtime.get(submit.body["inference_id"])
    assert answer.status == 200
    assert answer.body["status"] == "Failed"
    assert answer.body["failure_reason"] == "input not found"
    assert answer.body["submitted_at"] is not None


def test_inference_known_only_from_a_notification_is_404_to_everyone(api, notifications):
    unclaimed = "8f0e2b9c-3a4d-4e5f-8a6b-7c8d9e0f1a2b"
    notifications.deliver(failed(unclaimed))

    for caller in (ALICE, BOB):
        answer = api.get(unclaimed, principal=caller)
        assert answer.status == 404
        assert answer.body["error"]["code"] == "InferenceNotFound"


def test_unknown_inference_is_404(api):
    answer = api.get("8f0e2b9c-3a4d-4e5f-8a6b-7c8d9e0f1a2b")

    assert answer.status == 404
    assert answer.body["error"]["code"] == "InferenceNotFound"


def test_another_callers_inference_is_indistinguishable_from_an_unknown_one(api, submitted):
    unknown_id = "8f0e2b9c-3a4d-4e5f-8a6b-7c8d9e0f1a2b"

    someone_elses = api.get(submitted, principal=BOB)
    unknown = api.get(unknown_id, principal=BOB)

    assert someone_elses.status == unknown.status == 404
    assert json.dumps(someone_elses.body).replace(submitted, "<id>") == json.dumps(unknown.body).replace(
        unknown_id, "<id>"
    )


def test_malformed_message_is_a_batch_item_failure_and_the_rest_still_apply(api, notifications, submitted):
    notifications.publish(failed(submitted))
    event = notifications.receive_event()
    malformed = dict(event["Records"][0], messageId="malformed-1", body="this is not an SNS envelope")
    event["Records"].append(malformed)

    batch = notifications.handle(event)

    assert batch == {"batchItemFailures": [{"itemIdentifier": "malformed-1"}]}
    assert api.get(submitted).body["status"] == "Failed"


def test_batch_of_only_malformed_messages_is_answered_not_raised(notifications, aws):
    notifications.publish(sagemaker_notification("x", "Completed", event_time="2026-01-01T00:00:05.000Z"))
    event = notifications.receive_event()

    batch = notifications.handle(event)

    assert batch == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert aws.request_items() == []


def test_output_outside_the_output_buckets_outputs_is_never_presigned(api, aws):
    inference_id = "8f0e2b9c-3a4d-4e5f-8a6b-7c8d9e0f1a2b"
    aws.dynamodb.put_item(
        TableName=REQUESTS_TABLE,
        Item={
            "inference_id": {"S": inference_id},
            "principal": {"S": ALICE},
            "status": {"S": "Completed"},
            "output_location": {"S": "s3://someone-elses-bucket/secrets.json"},
        },
    )

    answer = api.get(inference_id)

    assert answer.body["status"] == "Completed"
    assert "output_url" not in answer.body


def expire(aws, inference_id: str, *, seconds_ago: int = 1) -> None:
    """What DynamoDB's TTL leaves until its background deletion gets to the item: an item whose
    expires_at has passed, still readable and writable."""
    aws.dynamodb.update_item(
        TableName=REQUESTS_TABLE,
        Key={"inference_id": {"S": inference_id}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - seconds_ago)}},
    )


def test_an_expired_record_reads_as_404_before_dynamodb_deletes_it(api, aws, submitted):
    expire(aws, submitted)

    answer = api.get(submitted)

    assert (answer.status, answer.body["error"]["code"]) == (404, "InferenceNotFound")
    assert len(aws.request_items()) == 1


def test_a_late_notification_does_not_bring_an_expired_record_back(api, aws, notifications, submitted):
    expire(aws, submitted)
    [before] = aws.request_items()

    batch = notifications.deliver(failed(submitted))

    assert batch == {"batchItemFailures": []}
    assert aws.request_items() == [before]
    assert api.get(submitted).status == 404


def test_a_record_until_its_expiry_reads_as_usual(api, aws, submitted):
    aws.dynamodb.update_item(
        TableName=REQUESTS_TABLE,
        Key={"inference_id": {"S": submitted}},
        UpdateExpression="SET expires_at = :soon",
        ExpressionAttributeValues={":soon": {"N": str(int(time.time()) + 60)}},
    )

    assert api.get(submitted).status == 200
