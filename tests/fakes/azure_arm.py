"""Azure Resource Manager for the preflight: a subscription, its resource providers, Azure ML's VM sizes and quota
in one region, Flex Consumption regions and Microsoft.Compute's preview features, answering with the bodies of
the public spec examples in tests/data/arm/ (SOURCES.md says which), changed only where a scenario says so."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.fakes.http import Request, Response, error

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "arm"
API_VERSIONS = {"providers": "2021-04-01", "subscription": "2021-04-01", "ml": "2024-10-01", "web": "2024-04-01",
                "features": "2021-07-01"}


def example(name: str) -> Any:
    """The 200 body of a spec example."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())["responses"]["200"]["body"]


class FakeArm:
    """One subscription as ARM describes it; every call needs a bearer token and the API version the specs give."""

    def __init__(self, subscription_id: str, location: str) -> None:
        self.subscription_id, self.location = subscription_id, location
        self.subscription = example("GetSubscription") | {"subscriptionId": subscription_id,
                                                           "id": f"/subscriptions/{subscription_id}"}
        self.registered: dict[str, str] = {}
        """Provider namespace → registrationState (absent: the GetProvider example's own, "Registering")."""
        self.vm_sizes = example("VirtualMachineSize_list")["value"]
        self.usages = example("Usage_list")["value"]
        self.flex_regions = ["East US", "West Europe", "Sweden Central"]
        self.features = example("listProviderFeatures")["value"]
        self.calls: list[str] = []

    def register_all(self, namespaces: tuple[str, ...]) -> FakeArm:
        self.registered |= {ns: "Registered" for ns in namespaces}
        return self

    def handle(self, request: Request) -> Response:
        if not request.identity:
            return error(401, "AuthenticationFailed", "no bearer token")
        if request.method != "GET":
            return error(405, "MethodNotAllowed", "the preflight only reads")
        self.calls.append(request.path)
        sub = f"/subscriptions/{self.subscription_id}"
        path, version = request.path, request.query.get("api-version")
        ml = f"{sub}/providers/Microsoft.MachineLearningServices/locations/{self.location}/"
        routes = {
            sub: ("subscription", lambda: self.subscription),
            f"{ml}vmSizes": ("ml", lambda: {"value": self.vm_sizes}),
            f"{ml}usages": ("ml", lambda: {"value": self.usages}),
            f"{sub}/providers/Microsoft.Web/geoRegions": ("web", self._geo_regions),
            f"{sub}/providers/Microsoft.Features/providers/Microsoft.Compute/features": (
                "features", lambda: {"value": self.features}),
        }
        if path.startswith(f"{sub}/providers/") and path.count("/") == 4:
            routes[path] = ("providers", lambda: self._provider(path.rsplit("/", 1)[1]))
        if path not in routes:
            return error(404, "NotFound", path)
        api, body = routes[path]
        if version != API_VERSIONS[api]:
            return error(400, "InvalidApiVersionParameter", f"api-version {version!r} is not supported here")
        if api == "web" and request.query.get("sku") != "FlexConsumption":
            return error(400, "BadRequest", "this fake lists Flex Consumption regions only")
        return Response(200, body())

    def _provider(self, namespace: str) -> dict[str, Any]:
        body = copy.deepcopy(example("GetProvider"))
        body |= {"id": f"/subscriptions/{self.subscription_id}/providers/{namespace}", "namespace": namespace}
        if namespace in self.registered:
            body["registrationState"] = self.registered[namespace]
        return body

    def _geo_regions(self) -> dict[str, Any]:
        """The GeoRegionCollection shape of the Microsoft.Web spec (no example exists there)."""
        return {"value": [{"id": f"/subscriptions/{self.subscription_id}/providers/Microsoft.Web/geoRegions/{name}",
                           "name": name, "type": "Microsoft.Web/geoRegions",
                           "properties": {"name": name, "description": None, "displayName": name,
                                          "orgDomain": "PUBLIC;FLEXCONSUMPTION"}}
                          for name in self.flex_regions], "nextLink": None}
