"""A local stand-in for what scales an inference component to zero and back.

It plays two AWS parts, so the handlers' wake works unchanged without AWS:

- **SageMaker's control plane** for inference components and async endpoints, over SageMaker's
  own JSON protocol (``X-Amz-Target: SageMaker.<Operation>``, reached through
  ``AWS_ENDPOINT_URL_SAGEMAKER``): ``DescribeInferenceComponent``,
  ``UpdateInferenceComponentRuntimeConfig`` and ``DescribeEndpoint``.
- **Application Auto Scaling's step policy** behind each wake alarm: it watches the alarm in
  CloudWatch (moto's server here) and, when the alarm enters ALARM, adds one copy (or instance)
  unless one is already wanted (a repeated +1 within the cooldown adds nothing), then returns the
  alarm to OK the way a metric alarm re-evaluates. The copy becomes current ``cold_start_seconds``
  later. Each run of the step policy is recorded (``wakes``) and reported to ``on_wake``.

``LOCAL_COLD_START_SECONDS`` is the conventional source of ``cold_start_seconds``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import Any

WAKE_ALARM_SUFFIX = "-wake"
ACCOUNT_ARN = "arn:aws:sagemaker:us-east-1:123456789012"


@dataclass
class _Component:
    """An inference component (copies) or, with ``async_endpoint``, an async endpoint (instances)."""

    name: str
    endpoint_name: str
    async_endpoint: bool = False
    cold_start_seconds: float = 0.0
    desired: int = 0
    ready_at: float | None = None
    modified_at: float = field(default_factory=time.time)
    wakes: int = 0

    def current(self, now: float) -> int:
        return self.desired if self.ready_at is not None and now >= self.ready_at else 0


class ScaleToZeroStandIn:
    """Run with ``with ScaleToZeroStandIn(cloudwatch_client=..., cold_start_seconds=5) as s:``."""

    def __init__(
        self,
        *,
        cloudwatch_client: Any,
        cold_start_seconds: float,
        poll_seconds: float = 0.05,
        on_wake: Callable[[str, bool, float], None] | None = None,
    ) -> None:
        """``on_wake(name, added, cold_start_seconds)`` runs at each run of a step policy; ``added``
        is False when a copy was already wanted (the +1 within the cooldown that adds nothing)."""
        self._cloudwatch = cloudwatch_client
        self._on_wake = on_wake
        self._cold_start = cold_start_seconds
        self._poll = poll_seconds
        self._components: dict[str, _Component] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server = _Server(self)
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True),
            threading.Thread(target=self._watch_alarms, daemon=True),
        ]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_inference_component(
        self, name: str, *, endpoint_name: str, copies: int = 0, cold_start_seconds: float | None = None
    ) -> None:
        """Register a component (at ``copies`` running copies) and create its wake alarm; a copy
        takes ``cold_start_seconds`` (default: the stand-in's) to start."""
        self._cloudwatch.put_metric_alarm(
            AlarmName=name + WAKE_ALARM_SUFFIX,
            Namespace="AWS/SageMaker",
            MetricName="NoCapacityInvocationFailures",
            Dimensions=[{"Name": "InferenceComponentName", "Value": name}],
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        with self._lock:
            self._components[name] = _Component(
                name,
                endpoint_name,
                cold_start_seconds=self._cold_start if cold_start_seconds is None else cold_start_seconds,
                desired=copies,
                ready_at=time.monotonic() if copies else None,
            )

    def add_async_endpoint(self, name: str, *, instances: int = 0, cold_start_seconds: float | None = None) -> None:
        """Register an async endpoint (at ``instances`` running instances) and create its wake alarm,
        on the metric and statistic the stack's alarm uses (HasBacklogWithoutCapacity, Average)."""
        self._cloudwatch.put_metric_alarm(
            AlarmName=name + WAKE_ALARM_SUFFIX,
            Namespace="AWS/SageMaker",
            MetricName="HasBacklogWithoutCapacity",
            Dimensions=[{"Name": "EndpointName", "Value": name}],
            Statistic="Average",
            Period=60,
            EvaluationPeriods=2,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        with self._lock:
            self._components[name] = _Component(
                name,
                name,
                async_endpoint=True,
                cold_start_seconds=self._cold_start if cold_start_seconds is None else cold_start_seconds,
                desired=instances,
                ready_at=time.monotonic() if instances else None,
            )

    def scale_to_zero(self, name: str) -> None:
        with self._lock:
            component = self._components[name]
            component.desired, component.ready_at, component.modified_at = 0, None, time.time()

    def has_capacity(self, name: str) -> bool:
        with self._lock:
            component = self._components.get(name)
            return component is not None and component.current(time.monotonic()) > 0

    def wakes(self, name: str) -> int:
        with self._lock:
            return self._components[name].wakes

    def desired_copies(self, name: str) -> int:
        with self._lock:
            return self._components[name].desired

    def describe(self, name: str) -> dict | None:
        with self._lock:
            component = self._components.get(name)
            if component is None or component.async_endpoint:
                return None
            current = component.current(time.monotonic())
            return {
                "InferenceComponentName": component.name,
                "InferenceComponentArn": f"{ACCOUNT_ARN}:inference-component/{name}",
                "EndpointName": component.endpoint_name,
                "VariantName": "AllTraffic",
                "RuntimeConfig": {"DesiredCopyCount": component.desired, "CurrentCopyCount": current},
                "InferenceComponentStatus": "InService" if current == component.desired else "Updating",
                "CreationTime": component.modified_at,
                "LastModifiedTime": component.modified_at,
            }

    def describe_endpoint(self, name: str) -> dict | None:
        """DescribeEndpoint of an async endpoint: one production variant whose instance counts move."""
        with self._lock:
            endpoint = self._components.get(name)
            if endpoint is None or not endpoint.async_endpoint:
                return None
            variant = {
                "VariantName": "AllTraffic",
                "CurrentInstanceCount": endpoint.current(time.monotonic()),
                "DesiredInstanceCount": endpoint.desired,
            }
            return {
                "EndpointName": name,
                "EndpointArn": f"{ACCOUNT_ARN}:endpoint/{name}",
                "EndpointConfigName": name,
                "ProductionVariants": [variant],
                "EndpointStatus": "InService",
                "CreationTime": endpoint.modified_at,
                "LastModifiedTime": endpoint.modified_at,
            }

    def set_copies(self, name: str, copies: int) -> bool:
        with self._lock:
            component = self._components.get(name)
            if component is None or component.async_endpoint:
                return False
            self._scale(component, copies)
            return True

    def _scale(self, component: _Component, copies: int) -> None:
        component.desired, component.modified_at = copies, time.time()
        component.ready_at = time.monotonic() + component.cold_start_seconds if copies else None

    def _watch_alarms(self) -> None:
        while not self._stopped.wait(self._poll):
            with self._lock:
                alarms = [name + WAKE_ALARM_SUFFIX for name in self._components]
            if not alarms:
                continue
            try:
                found = self._cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"]
            except Exception:
                if self._stopped.is_set():
                    return
                raise
            for alarm in (a for a in found if a["StateValue"] == "ALARM"):
                self._step_out_of_zero(alarm["AlarmName"].removesuffix(WAKE_ALARM_SUFFIX))
                self._cloudwatch.set_alarm_state(
                    AlarmName=alarm["AlarmName"], StateValue="OK", StateReason="re-evaluated by the stand-in"
                )

    def _step_out_of_zero(self, name: str) -> None:
        with self._lock:
            component = self._components[name]
            component.wakes += 1
            added = component.desired == 0
            if added:
                self._scale(component, 1)
        if self._on_wake is not None:
            self._on_wake(name, added, component.cold_start_seconds)

    def __enter__(self) -> ScaleToZeroStandIn:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        operation = self.headers.get("X-Amz-Target", "").removeprefix("SageMaker.")
        stand_in = self.server.stand_in
        name = body.get("InferenceComponentName", "")
        if operation == "DescribeInferenceComponent":
            description = stand_in.describe(name)
            if description is None:
                self._error(f"Could not find inference component \"{name}\".")
            else:
                self._answer(description)
        elif operation == "DescribeEndpoint":
            description = stand_in.describe_endpoint(body.get("EndpointName", ""))
            if description is None:
                self._error(f"Could not find endpoint \"{body.get('EndpointName', '')}\".")
            else:
                self._answer(description)
        elif operation == "UpdateInferenceComponentRuntimeConfig":
            copies = body.get("DesiredRuntimeConfig", {}).get("CopyCount", 0)
            if stand_in.set_copies(name, copies):
                self._answer({"InferenceComponentArn": stand_in.describe(name)["InferenceComponentArn"]})
            else:
                self._error(f"Could not find inference component \"{name}\".")
        else:
            self._error(f"{operation or 'this operation'} is not served by the local stand-in", "UnknownOperationException")

    def _answer(self, payload: dict) -> None:
        self._send(200, payload)

    def _error(self, message: str, kind: str = "ValidationException") -> None:
        self._send(400, {"__type": kind, "message": message})

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stand_in: ScaleToZeroStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stand_in = stand_in
