"""What the Bicep grants, read from infra/app/rbac.bicep with a real Bicep parser, and the permission matrix.

The Azure stand-ins authorize each request against these grants, so a role the Bicep forgets fails the contract
tests the way Azure would (403, or a deployment that fails), not only a comparison of two lists.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycep import BicepParser

INFRA = Path(__file__).resolve().parents[1] / "infra"
RBAC = INFRA / "app" / "rbac.bicep"
MATRIX = INFRA / "permissions.json"


@dataclass(frozen=True)
class Grant:
    identity: str
    role: str
    scope: str


@dataclass(frozen=True)
class Grants:
    grants: frozenset[Grant]

    def roles_of(self, identity: str, scope: str) -> set[str]:
        return {g.role for g in self.grants if g.identity == identity and g.scope == scope}

    def without(self, identity: str, role: str, scope: str) -> Grants:
        """The same grants less one: what a deployment missing that role assignment would have."""
        return Grants(self.grants - {Grant(identity, role, scope)})


@functools.cache
def matrix() -> dict[str, Any]:
    return json.loads(MATRIX.read_text())


def matrix_grants() -> Grants:
    return Grants(frozenset(Grant(op["identity"], op["role"], op["scope"]) for op in matrix()["operations"]))


@functools.cache
def bicep_grants(path: Path = RBAC) -> Grants:
    """Every role assignment in rbac.bicep, with the deploying principal given (all optional grants on)."""
    tree = BicepParser().parse(file_path=path)
    variables = {name: v["value"] for name, v in tree["variables"].items()}
    resources = tree["resources"]
    role_names = {role_id: name for name, role_id in matrix()["roles"].items()}
    role_ids = _evaluate(variables["roles"], variables)
    found = set()
    for symbol, resource in resources.items():
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        loop = resource["config"].get("loop_type")
        assert loop, f"{symbol}: every role assignment in rbac.bicep is a loop over a grant list"
        body = resource["config"]["config"]
        for grant in _evaluate(variables[loop["detail"]["array_name"]], variables):
            role = role_names.get(role_ids[grant["role"]], f"unknown role id {role_ids[grant['role']]}")
            found.add(Grant(grant["principal"], role, _scope(body["scope"], grant, resources)))
    return Grants(frozenset(found))


def bicep_role_ids(path: Path = RBAC) -> dict[str, str]:
    tree = BicepParser().parse(file_path=path)
    variables = {name: v["value"] for name, v in tree["variables"].items()}
    return _evaluate(variables["roles"], variables)


def _scope(scope: Any, grant: dict[str, str], resources: dict[str, Any]) -> str:
    """`data` → "data"; `dataContainers[i]` (containers looped over the same grants) → "data/<container>"."""
    if isinstance(scope, str):
        return scope
    symbol = scope["operator"]["operands"]["operand_1"]
    parent = resources[symbol]["config"]["config"]["parent"]
    account = resources[parent]["config"]["parent"]
    return f"{account}/{grant['container']}"


def _evaluate(value: Any, variables: dict[str, Any]) -> Any:
    """The few Bicep expressions the grant lists use: literals, variables, concat(), and `empty(p) ? [] : [...]`
    (taken as a deployment with the optional principal given)."""
    if isinstance(value, str) and value in variables:
        return _evaluate(variables[value], variables)
    if isinstance(value, list):
        return [_evaluate(v, variables) for v in value]
    if isinstance(value, dict) and "function" in value and value["function"]["type"] == "concat":
        return [item for arg in value["function"]["parameters"].values() for item in _evaluate(arg, variables)]
    if isinstance(value, dict) and "operator" in value and value["operator"]["type"] == "conditional":
        return _evaluate(value["operator"]["operands"]["false_value"], variables)
    if isinstance(value, dict):
        return {k: _evaluate(v, variables) for k, v in value.items()}
    return value
