"""Azure Blob Storage's REST API, the part the SDKs use here, with Entra ID (RBAC) authorization.

Accounts are addressed as `<account>.blob.core.windows.net`; each request's bearer token names an identity, and
a read or write is allowed only when the role grants (parsed from infra/app/rbac.bicep) give that identity a blob
data role on the account or the container — Azure's own check when shared keys are off.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from dataclasses import dataclass, field
from email.utils import formatdate
from xml.sax.saxutils import escape

from tests.fakes.http import Request, Response
from tests.infra_model import Grants

READ_ROLES = {"Storage Blob Data Reader", "Storage Blob Data Contributor", "Storage Blob Data Owner"}
WRITE_ROLES = {"Storage Blob Data Contributor", "Storage Blob Data Owner"}


@dataclass
class StoredBlob:
    data: bytes
    etag: str
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


class BlobService:
    """Blob accounts by name; `scopes` maps an account name to its scope in the permission model."""

    def __init__(self, grants: Grants, scopes: dict[str, str]) -> None:
        self.grants, self.scopes = grants, scopes
        self.accounts: dict[str, dict[str, dict[str, StoredBlob]]] = {name: {} for name in scopes}
        self._etags = itertools.count(1)
        self._blocks: dict[tuple[str, str, str], dict[str, bytes]] = {}

    def container(self, account: str, container: str) -> dict[str, StoredBlob]:
        return self.accounts[account].setdefault(container, {})

    def can(self, identity: str | None, account: str, container: str, write: bool) -> bool:
        scope = self.scopes[account]
        roles = self.grants.roles_of(identity or "", scope) | self.grants.roles_of(identity or "",
                                                                                  f"{scope}/{container}")
        return bool(roles & (WRITE_ROLES if write else READ_ROLES))

    def handle(self, request: Request) -> Response:
        account = request.host.split(".")[0]
        if account not in self.accounts:
            return error(404, "AccountNotFound", f"no storage account {account}")
        container, _, name = request.path.lstrip("/").partition("/")
        write = request.method in ("PUT", "DELETE")
        if not self.can(request.identity, account, container, write):
            return error(403, "AuthorizationPermissionMismatch",
                         f"This request is not authorized to perform this operation using this permission. "
                         f"({request.identity} on {account}/{container}, {'write' if write else 'read'})")
        if not name:
            return self._container_call(request, account, container)
        return self._blob_call(request, self.container(account, container), name)

    def _container_call(self, request: Request, account: str, container: str) -> Response:
        if request.query.get("comp") == "list":
            return self._list(request, self.container(account, container))
        if request.method == "PUT":
            created = container not in self.accounts[account]
            self.container(account, container)
            return Response(201) if created else error(409, "ContainerAlreadyExists", container)
        return Response(200, b"", {"etag": '"0x0"'})

    def _blob_call(self, request: Request, blobs: dict[str, StoredBlob], name: str) -> Response:
        comp = request.query.get("comp")
        blob = blobs.get(name)
        if request.method == "PUT" and comp == "block":
            self._blocks.setdefault((id(blobs), name, ""), {})[request.query["blockid"]] = request.body
            return Response(201)
        if request.method == "PUT" and comp == "blocklist":
            staged = self._blocks.pop((id(blobs), name, ""), {})
            ids = [part.split(">")[1].split("<")[0] for part in request.body.decode().split("<Latest")[1:]]
            return self._put(blobs, name, b"".join(staged[i] for i in ids), request)
        if request.method == "PUT" and comp == "metadata":
            if blob is None:
                return error(404, "BlobNotFound", name)
            blob.metadata = _metadata(request)
            blob.etag = self._etag()
            return Response(200, b"", {"etag": blob.etag})
        if request.method == "PUT":
            if request.headers.get("if-none-match") == "*" and blob is not None:
                return error(409, "BlobAlreadyExists", name)
            return self._put(blobs, name, request.body, request)
        if request.method == "DELETE":
            return Response(202) if blobs.pop(name, None) else error(404, "BlobNotFound", name)
        if blob is None:
            return Response(404, b"", {"x-ms-error-code": "BlobNotFound"}) if request.method == "HEAD" \
                else error(404, "BlobNotFound", name)
        headers = {"etag": blob.etag, "content-length": str(len(blob.data)), "content-type": blob.content_type,
                   "last-modified": formatdate(usegmt=True), "x-ms-blob-type": "BlockBlob",
                   "content-md5": base64.b64encode(hashlib.md5(blob.data).digest()).decode(),
                   **{f"x-ms-meta-{k}": v for k, v in blob.metadata.items()}}
        if request.method == "HEAD":
            return Response(200, b"", headers)
        return Response(200, blob.data, headers)

    def _put(self, blobs: dict[str, StoredBlob], name: str, data: bytes, request: Request) -> Response:
        blob = StoredBlob(data, self._etag(), request.headers.get("x-ms-blob-content-type", "application/octet-stream"),
                          _metadata(request))
        blobs[name] = blob
        return Response(201, b"", {"etag": blob.etag, "last-modified": formatdate(usegmt=True),
                                   "content-md5": base64.b64encode(hashlib.md5(data).digest()).decode()})

    def _list(self, request: Request, blobs: dict[str, StoredBlob]) -> Response:
        prefix = request.query.get("prefix", "")
        items = "".join(
            f"<Blob><Name>{escape(name)}</Name><Properties><Etag>{blob.etag}</Etag>"
            f"<Content-Length>{len(blob.data)}</Content-Length><Content-Type>{blob.content_type}</Content-Type>"
            f"<BlobType>BlockBlob</BlobType><Last-Modified>{formatdate(usegmt=True)}</Last-Modified></Properties>"
            + (f"<Metadata>{''.join(f'<{k}>{escape(v)}</{k}>' for k, v in blob.metadata.items())}</Metadata>"
               if "metadata" in request.query.get("include", "") else "") + "</Blob>"
            for name, blob in sorted(blobs.items()) if name.startswith(prefix))
        body = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Prefix>{escape(prefix)}</Prefix>'
                f"<Blobs>{items}</Blobs><NextMarker /></EnumerationResults>")
        return Response(200, body, {"content-type": "application/xml"})

    def _etag(self) -> str:
        return f'"0x8DC{next(self._etags):012X}"'


def error(status: int, code: str, message: str) -> Response:
    """Blob Storage's error answer: XML body and the code in `x-ms-error-code`."""
    body = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error>")
    return Response(status, body, {"x-ms-error-code": code, "content-type": "application/xml"})


def _metadata(request: Request) -> dict[str, str]:
    return {k.removeprefix("x-ms-meta-"): v for k, v in request.headers.items() if k.startswith("x-ms-meta-")}
