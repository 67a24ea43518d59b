"""Prints, as JSON, the request each client of the front's services signs in every partition.

Run as a script, with the botocore to check first on ``sys.path`` (``python botocore_requests.py
[folder]``): a bundled botocore must be imported from its own folder, since botocore treats an
``endpoints.json`` outside its package as custom data and resolves endpoints differently. The
clients come from the front's own session (``inference_common.aws_clients.session_for``), and make
the calls the front makes. Nothing is sent: the client's last hook before sending stops the call.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "lambda" / "shared"
VARIANTS = [{}, {"use_fips_endpoint": True}, {"use_dualstack_endpoint": True}]
# The calls the front makes (sagemaker_stream.py, inference_common/capacity.py).
CALLS = [
    ("sagemaker-runtime", "invoke_endpoint_with_response_stream", {"EndpointName": "e", "Body": b"{}", "InferenceComponentName": "c"}),
    ("sagemaker", "describe_inference_component", {"InferenceComponentName": "c"}),
    ("sagemaker", "describe_endpoint", {"EndpointName": "e"}),
    ("cloudwatch", "set_alarm_state", {"AlarmName": "a", "StateValue": "ALARM", "StateReason": "r"}),
]


class Sent(Exception):
    """Raised by the client's last hook before sending: the request goes no further."""


def regions() -> list[str]:
    """The first region of each partition the botocore on the path knows, and one more commercial one."""
    import botocore.loaders

    partitions = botocore.loaders.create_loader().load_data("endpoints")["partitions"]
    return ["eu-west-1"] + [next(iter(partition["regions"])) for partition in partitions]


def signed_request(service: str, operation: str, parameters: dict, region: str, variant: dict) -> dict:
    """The URL and the signature's scope of one call, with the endpoint the client reports, or the
    error botocore refuses it with."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError
    from inference_common.aws_clients import session_for

    def stop(request, **_):
        credential = request.headers["Authorization"].decode().split("Credential=AKID/")[1].split(",")[0]
        raise Sent({"url": request.url, "scope": credential.split("/", 1)[1]})

    try:
        client = session_for(*{call[0] for call in CALLS}).create_client(
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
    sys.path[:0] = [*sys.argv[1:], str(SHARED)]
    import botocore

    requests = {
        f"{operation} {region} {json.dumps(variant)}": signed_request(service, operation, parameters, region, variant)
        for service, operation, parameters in CALLS for region in regions() for variant in VARIANTS
    }
    print(json.dumps({"botocore": botocore.__file__, "requests": requests}))


if __name__ == "__main__":
    main()
