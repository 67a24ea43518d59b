"""Prints, as JSON, the request each client of the front's services signs in every partition.

Run as a script, with the botocore to check first on ``sys.path`` (``python botocore_requests.py
[folder]``): a bundled botocore must be imported from its own folder, since botocore treats an
``endpoints.json`` outside its package as custom data and resolves endpoints differently. Nothing
is sent: the client's last hook before sending stops the call.
"""

from __future__ import annotations

import json
import sys

# One region of each partition botocore knows, and one more of the commercial one.
REGIONS = ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "us-iso-east-1", "us-isob-east-1"]
VARIANTS = [{}, {"use_fips_endpoint": True}, {"use_dualstack_endpoint": True}]
# One call of each service the front makes (sagemaker_stream.py, inference_common/capacity.py).
CALLS = {
    "sagemaker-runtime": (
        "invoke_endpoint_with_response_stream", {"EndpointName": "e", "Body": b"{}", "InferenceComponentName": "c"},
    ),
    "sagemaker": ("describe_inference_component", {"InferenceComponentName": "c"}),
    "cloudwatch": ("put_metric_data", {"Namespace": "n", "MetricData": [{"MetricName": "m", "Value": 1.0}]}),
}


class Sent(Exception):
    """Raised by the client's last hook before sending: the request goes no further."""


def signed_request(service: str, region: str, variant: dict) -> dict:
    """The URL and the signature's scope of one call, with the endpoint the client reports, or the
    error botocore refuses it with."""
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    def stop(request, **_):
        credential = request.headers["Authorization"].decode().split("Credential=AKID/")[1].split(",")[0]
        raise Sent({"url": request.url, "scope": credential.split("/", 1)[1]})

    operation, parameters = CALLS[service]
    try:
        client = botocore.session.get_session().create_client(
            service, region_name=region, aws_access_key_id="AKID", aws_secret_access_key="secret",
            config=Config(retries={"total_max_attempts": 1}, **variant),
        )
        client.meta.events.register("before-send", stop)
        getattr(client, operation)(**parameters)
    except Sent as sent:
        return {**sent.args[0], "client_endpoint": client.meta.endpoint_url}
    except BotoCoreError as refused:  # a variant the partition does not offer
        return {"refused": f"{type(refused).__name__}: {refused}"}
    raise AssertionError(f"{service} {operation} sent nothing")


def main() -> None:
    sys.path[:0] = sys.argv[1:]
    import botocore

    requests = {
        f"{service} {region} {json.dumps(variant)}": signed_request(service, region, variant)
        for service in CALLS for region in REGIONS for variant in VARIANTS
    }
    print(json.dumps({"botocore": botocore.__file__, "requests": requests}))


if __name__ == "__main__":
    main()
