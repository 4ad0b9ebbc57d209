"""The permission matrix (infra/permissions.json) and the Bicep's role assignments agree exactly: no operation
without its grant, no grant without an operation that needs it."""

from __future__ import annotations

import re

from tests.infra_model import RBAC, bicep_grants, bicep_role_ids, matrix, matrix_grants


def test_the_bicep_grants_every_role_the_matrix_needs():
    missing = matrix_grants().grants - bicep_grants().grants
    assert missing == set(), f"operations in infra/permissions.json without their grant in rbac.bicep: {missing}"


def test_the_bicep_grants_nothing_the_matrix_does_not_need():
    extra = bicep_grants().grants - matrix_grants().grants
    assert extra == set(), f"grants in rbac.bicep no operation in infra/permissions.json needs: {extra}"


def test_role_ids_are_the_built_in_roles_the_matrix_names():
    by_id = {role_id: name for name, role_id in matrix()["roles"].items()}
    assert set(bicep_role_ids().values()) <= set(by_id), "rbac.bicep uses a role id the matrix does not name"
    used = {g.role for g in bicep_grants().grants}
    assert used == set(matrix()["roles"]), "every role listed in the matrix is used, and only those"


def test_every_operation_names_a_known_identity_scope_and_what_it_does():
    m = matrix()
    scopes = {s.split("/")[0] for s in m["scopes"]}
    for op in m["operations"]:
        assert op["identity"] in m["identities"], op
        assert op["scope"].split("/")[0] in scopes, op
        assert op["role"] in m["roles"] and op["does"] and op["plane"] in ("data", "control"), op


def test_the_workspace_storage_roles_azure_demands_are_in_the_matrix():
    """Azure ML with identity-based, key-less workspace storage: uploaders of code need Blob Data Contributor, a
    user-assigned endpoint identity Blob Data Reader (and AcrPull), a cluster identity access for its jobs."""
    grants = matrix_grants()
    assert "Storage Blob Data Contributor" in grants.roles_of("function", "mlStorage")
    assert {"Storage Blob Data Reader"} <= grants.roles_of("endpoint", "mlStorage")
    assert "AcrPull" in grants.roles_of("endpoint", "registry")
    assert "Storage Blob Data Contributor" in grants.roles_of("compute", "mlStorage")
    assert "Managed Identity Operator" in grants.roles_of("function", "endpointIdentity")


def test_only_the_deploying_principal_has_a_configurable_principal_type():
    text = RBAC.read_text()
    types = dict(re.findall(r"^  (\w+): (\S+)$", re.search(r"var principalTypes = \{\n(.*?)\n\}", text, re.S)
                            .group(1), re.M))
    assert types.pop("deployer") == "principalType"
    assert set(types.values()) == {"'ServicePrincipal'"}
    assert "principalType: 'User'" not in text
