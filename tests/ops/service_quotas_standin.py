"""Service Quotas for the preflight: the two list operations, with pagination."""

from __future__ import annotations

from tests.ops.json_service import JsonServiceStandIn, ServiceError, paginated


class ServiceQuotasStandIn(JsonServiceStandIn):
    """`defaults` and `applied` map a quota name to (code, value), as the two list operations see them."""

    def __init__(self) -> None:
        self.defaults: dict[str, tuple[str, float]] = {}
        self.applied: dict[str, tuple[str, float]] = {}
        super().__init__(
            "ServiceQuotasV20190624",
            {
                "ListAWSDefaultServiceQuotas": lambda body: self._list(self.defaults, body),
                "ListServiceQuotas": lambda body: self._list(self.applied, body),
            },
        )

    def _list(self, source: dict[str, tuple[str, float]], body: dict) -> dict:
        if body.get("ServiceCode") != "sagemaker":
            raise ServiceError("NoSuchResourceException", "only sagemaker quotas are served here")
        quotas = [
            {"ServiceCode": "sagemaker", "QuotaName": name, "QuotaCode": code, "Value": value}
            for name, (code, value) in sorted(source.items())
        ]
        return paginated(quotas, body, "Quotas")
