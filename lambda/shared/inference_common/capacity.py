"""Whether a model has capacity to serve, and waking it the moment a request finds none.

The wake is ``SetAlarmState(ALARM)`` on the path's own wake alarm (the one whose step policy adds
the first instance or copy), so Application Auto Scaling does the scaling, starts its cooldown and
stays within the scalable target's bounds. CloudWatch runs the alarm's action only when the state
changes, and a repeated +1 within the step policy's cooldown adds nothing: a second wake from
another function container cannot add a second unit (docs/scale-to-zero.md, F1 and F3). Within
one container a lock and a short cache make concurrent requests share one look and one wake.

"Capacity" comes from the control plane (DescribeEndpoint, DescribeInferenceComponent), not from
metrics, which lag by minutes. Any failure to look or to wake is logged and reported as
``unknown``: a request is never failed for it, and the alarm's own datapoints remain the safety
net. No AWS SDK import: the clients are passed in.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from inference_common.store import iso_utc

logger = logging.getLogger(__name__)

READY = "ready"
WAKING = "waking"
UNKNOWN = "unknown"
CapacityStateName = Literal["ready", "waking", "unknown"]

# The wake alarms' fixed names, so that another stack can name their ARNs without an export.
WAKE_ALARM_SUFFIX = "-wake"
# How long one look at the control plane is trusted; DescribeEndpoint and
# DescribeInferenceComponent are throttled per account, and capacity changes over minutes.
DEFAULT_CACHE_SECONDS = 5.0
# The alarm's action reaches the scalable target within seconds; until then the control plane still
# shows no capacity wanted. A wake that has not shown after this long was lost (or undone): repeat it.
WAKE_RETRY_SECONDS = 60.0


def wake_alarm_name_for(resource_name: str) -> str:
    """The wake alarm of an async endpoint or an inference component."""
    return f"{resource_name}{WAKE_ALARM_SUFFIX}"


@dataclass(frozen=True)
class CapacityState:
    state: CapacityStateName
    since: datetime | None = None
    """When the capacity started coming (``waking`` only)."""

    @property
    def ready(self) -> bool:
        return self.state == READY

    @property
    def waking(self) -> bool:
        return self.state == WAKING

    def as_json(self) -> dict:
        answer: dict = {"state": self.state}
        if self.since is not None:
            answer["since"] = iso_utc(self.since)
        return answer


@dataclass(frozen=True)
class Counts:
    current: int
    desired: int
    changed_at: datetime | None


class ModelCapacity:
    """The capacity of one async endpoint or one inference component; ``ensure()`` wakes it."""

    def __init__(
        self,
        *,
        describe: Callable[[], Counts],
        cloudwatch_client: Any,
        wake_alarm_name: str,
        alarm_statistic: str,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._describe = describe
        self._cloudwatch = cloudwatch_client
        self._alarm_name = wake_alarm_name
        self._alarm_statistic = alarm_statistic
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()
        self._cached: tuple[float, CapacityState] | None = None
        self._woken_at: datetime | None = None
        self._woken_monotonic: float | None = None

    @classmethod
    def of_async_endpoint(
        cls, *, sagemaker_client: Any, cloudwatch_client: Any, endpoint_name: str, **options: Any
    ) -> ModelCapacity:
        def describe() -> Counts:
            endpoint = sagemaker_client.describe_endpoint(EndpointName=endpoint_name)
            # Absent while the endpoint is being created: unknown, not "no capacity wanted".
            variants = endpoint["ProductionVariants"]
            return Counts(
                current=sum(v.get("CurrentInstanceCount", 0) for v in variants),
                desired=sum(v.get("DesiredInstanceCount", 0) for v in variants),
                changed_at=endpoint.get("LastModifiedTime"),
            )

        # HasBacklogWithoutCapacity is alarmed on its Average.
        return cls(
            describe=describe,
            cloudwatch_client=cloudwatch_client,
            wake_alarm_name=wake_alarm_name_for(endpoint_name),
            alarm_statistic="Average",
            **options,
        )

    @classmethod
    def of_async_endpoints(
        cls, *, sagemaker_client: Any, cloudwatch_client: Any, endpoint_names: list[str]
    ) -> dict[str, ModelCapacity]:
        """One per async endpoint of the catalog, keyed by endpoint name, sharing the clients."""
        return {
            name: cls.of_async_endpoint(
                sagemaker_client=sagemaker_client, cloudwatch_client=cloudwatch_client, endpoint_name=name
            )
            for name in endpoint_names
        }

    @classmethod
    def of_inference_component(
        cls, *, sagemaker_client: Any, cloudwatch_client: Any, inference_component_name: str, **options: Any
    ) -> ModelCapacity:
        def describe() -> Counts:
            component = sagemaker_client.describe_inference_component(InferenceComponentName=inference_component_name)
            runtime = component["RuntimeConfig"]
            return Counts(
                current=runtime.get("CurrentCopyCount", 0),
                desired=runtime.get("DesiredCopyCount", 0),
                changed_at=component.get("LastModifiedTime"),
            )

        # NoCapacityInvocationFailures is alarmed on its Sum.
        return cls(
            describe=describe,
            cloudwatch_client=cloudwatch_client,
            wake_alarm_name=wake_alarm_name_for(inference_component_name),
            alarm_statistic="Sum",
            **options,
        )

    def ensure(self) -> CapacityState:
        """Ready, or waking (started now if nobody had asked for capacity yet), or unknown."""
        with self._lock:
            if self._cached is not None and self._monotonic() - self._cached[0] < self._cache_seconds:
                return self._cached[1]
            state = self._look_and_wake()
            self._cached = (self._monotonic(), state)
            return state

    def _look_and_wake(self) -> CapacityState:
        try:
            counts = self._describe()
        except Exception:
            # Best effort by design: the caller's request goes on, the alarm is the safety net.
            logger.warning("cannot read the capacity behind %s", self._alarm_name, exc_info=True)
            return CapacityState(UNKNOWN)
        if counts.current > 0:
            self._woken_at = self._woken_monotonic = None
            return CapacityState(READY)
        if counts.desired > 0:
            return CapacityState(WAKING, since=self._woken_at or _aware(counts.changed_at) or self._now())
        if self._woken_monotonic is not None and self._monotonic() - self._woken_monotonic < WAKE_RETRY_SECONDS:
            return CapacityState(WAKING, since=self._woken_at)
        return self._wake()

    def _wake(self) -> CapacityState:
        moment = self._now()
        try:
            self._cloudwatch.set_alarm_state(
                AlarmName=self._alarm_name,
                StateValue="ALARM",
                StateReason="A request arrived for a model with no capacity: the API starts it now",
                StateReasonData=json.dumps(self._reason_data(moment)),
            )
        except Exception:
            logger.warning("cannot wake %s", self._alarm_name, exc_info=True)
            return CapacityState(UNKNOWN)
        logger.info("woke %s", self._alarm_name)
        self._woken_at, self._woken_monotonic = moment, self._monotonic()
        return CapacityState(WAKING, since=moment)

    def _reason_data(self, moment: datetime) -> dict:
        """What a metric alarm records when it breaches, with one datapoint at the threshold (1).

        Application Auto Scaling reads it to pick the step: the wake policies' only step starts at
        the threshold (MetricIntervalLowerBound 0), so it adds exactly one unit.
        """
        stamp = _alarm_time(moment)
        return {
            "version": "1.0",
            "queryDate": stamp,
            "startDate": _alarm_time(moment - timedelta(minutes=1)),
            "statistic": self._alarm_statistic,
            "period": 60,
            "recentDatapoints": [1.0],
            "threshold": 1.0,
            "evaluatedDatapoints": [{"timestamp": stamp, "sampleCount": 1.0, "value": 1.0}],
        }


def _alarm_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
