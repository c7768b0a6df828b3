"""The presign gate: what S3 enforces on a presigned request (SigV4 over the actual request, expiry, checksum),
checked before the request reaches moto, which enforces none of it. Other requests pass straight through."""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import http.client
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import SIGV4_TIMESTAMP, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from handlers import contract

_AUTH_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_SIGV4_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_ACCESS_KEY = re.compile(r"[A-Z0-9]{16,128}", re.ASCII)
_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "host"}
_SIGV2_PARAMS = ("AWSAccessKeyId", "Signature", "Expires")
# Any of these in the query makes a request presigned, by either version: S3 authenticates it from the query.
_PRESIGN_PARAMS = frozenset({*_AUTH_PARAMS, *_SIGV2_PARAMS})
# x-amz-* headers a presigned request may carry unsigned (as LocalStack's strict mode, against which the S3
# behaviour in DESIGN.md was measured): an SDK's user agent and its payload-hash declaration.
_UNSIGNED_AMZ_HEADERS_ALLOWED = frozenset({"x-amz-user-agent", "x-amz-content-sha256"})


# The IAM action of a presigned request, by method.
_ACTIONS = {"PUT": "s3:PutObject", "GET": "s3:GetObject", "HEAD": "s3:GetObject", "DELETE": "s3:DeleteObject"}


class Rejected(Exception):
    """An S3 error response: status, code, message and extra elements of the XML error document."""

    def __init__(self, status: int, code: str, message: str, **extra: str):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self, resource: str) -> Response:
        fields = {"Code": self.code, "Message": self.message, **self.extra, "Resource": resource}
        inner = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}<RequestId>devstack</RequestId></Error>'
        return Response(body, status=self.status, content_type="application/xml")


def _iso8601(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# Who signed a presigned URL, by access key id: their credentials, and whether their policy allows (action, ARN).
Signer = Callable[[str], "tuple[Credentials, Callable[[str, str], bool]] | None"]
# Query parameters of a presigned request that are authentication, not the operation (a session's token among them).
_QUERY_AUTH = frozenset({*_AUTH_PARAMS, "X-Amz-Security-Token"})


class PresignGate:
    """A WSGI app in front of moto's S3. `signers` finds who signed a presigned URL; a request S3 would accept goes
    on to moto signed by `forward_as` (moto, with IAM enforced, answers a presigned PUT with a 500), once the gate
    checked what moto does not: the signature, expiry, checksum, and that the signer's policy allows it on that key.
    `clock` is the gate's idea of now (tests move it to expire URLs)."""

    def __init__(self, upstream: str, signers: Signer, region: str, forward_as: Credentials,
                 clock: Callable[[], float] = time.time):
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname, parts.port)
        self._upstream_url = upstream
        self._signers = signers
        self._forward_as = forward_as
        self._region = region
        self._clock = clock

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path
        arrived = time.monotonic()  # S3 judges expiry when the request starts, not once its body is in
        try:
            body = request.get_data()
        except (HTTPException, OSError):  # the client went away mid-body, or sent chunks that do not parse
            rejected = Rejected(400, "IncompleteBody", "You did not provide the number of bytes specified by the "
                                "Content-Length HTTP header.")
            return rejected.response(request.path)(environ, start_response)
        query = parse_qsl(urlsplit(raw_uri).query, keep_blank_values=True)
        # Any one of the query-authentication parameters makes it a presigned request, to be checked in full (with
        # only X-Amz-Signature as the test, a URL missing it went to moto, which enforces nothing).
        if any(name in _PRESIGN_PARAMS for name, _ in query):
            try:
                self.check(request, raw_uri, query, body, arrived)
            except Rejected as rejected:
                return rejected.response(request.path)(environ, start_response)
            return self._forward_signed(request, raw_uri, body)(environ, start_response)
        return self._forward(request, raw_uri, body)(environ, start_response)

    def check(self, request: Request, raw_uri: str, query: list[tuple[str, str]], body: bytes,
              arrived: float | None = None) -> None:
        """Raise `Rejected` unless S3 would accept this presigned request, which arrived at `arrived` (a
        `time.monotonic()`; None: now)."""
        params = dict(query)
        refuse_sigv2(params)
        missing = [name for name in _AUTH_PARAMS if name not in params]
        repeated = [name for name in _AUTH_PARAMS if sum(1 for key, _ in query if key == name) > 1]
        if missing or repeated or params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
            raise Rejected(400, "AuthorizationQueryParametersError", "Query-string authentication version 4 requires "
                           "the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                           "and X-Amz-Expires parameters.")
        try:
            if not _SIGV4_DATE.fullmatch(params["X-Amz-Date"]):
                raise ValueError
            signed_at = calendar.timegm(time.strptime(params["X-Amz-Date"], SIGV4_TIMESTAMP))
        except ValueError:
            raise Rejected(400, "AuthorizationQueryParametersError", "X-Amz-Date must be in the ISO8601 Long Format "
                           "\"yyyyMMdd'T'HHmmss'Z'\"") from None
        # int() would also take " 300", "+300" and "3_00", and sign them as "300": S3 takes decimal digits only.
        if not _DIGITS.fullmatch(params["X-Amz-Expires"]) or len(params["X-Amz-Expires"]) > 7:
            raise Rejected(400, "AuthorizationQueryParametersError", "X-Amz-Expires should be a number")
        expires = int(params["X-Amz-Expires"])
        if not 1 <= expires <= contract.MAX_URL_EXPIRES_SECONDS:
            raise Rejected(400, "AuthorizationQueryParametersError",
                           "X-Amz-Expires must be less than a week (in seconds) that is; 604800 seconds.")
        # The gate's clock, as it read when the request arrived (the clock is read here, once per judged request).
        now = self._clock() - (0.0 if arrived is None else time.monotonic() - arrived)
        if now > signed_at + expires:
            raise Rejected(403, "AccessDenied", "Request has expired", Expires=_iso8601(signed_at + expires),
                           ServerTime=_iso8601(now), **{"X-Amz-Expires": str(expires)})
        access_key = params["X-Amz-Credential"].split("/", 1)[0]
        signer = self._signers(access_key) if _ACCESS_KEY.fullmatch(access_key) else None
        if signer is None and not _ACCESS_KEY.fullmatch(access_key):  # no key at all: the signature cannot match
            raise Rejected(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                           "signature you provided. Check your key and signing method.")
        if signer is None:
            raise Rejected(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our "
                           "records.", AWSAccessKeyId=access_key)
        credentials, allows = signer
        # Only hex can match, and compare_digest refuses a non-ASCII str (a TypeError: a 500).
        signature = params["X-Amz-Signature"]
        expected = (self._signature_or_none(request, raw_uri, params, credentials)
                    if _SIGNATURE.fullmatch(signature) else None)
        if expected is None or not hmac.compare_digest(expected, signature):
            raise Rejected(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                           "signature you provided. Check your key and signing method.")
        refuse_unsigned_amz_headers(request, params["X-Amz-SignedHeaders"])
        # S3 evaluates the signer's policy: a URL is worth what its signer may do.
        if not allows(_ACTIONS.get(request.method, f"s3:{request.method}"), f"arn:aws:s3:::{request.path.lstrip('/')}"):
            raise Rejected(403, "AccessDenied", "Access Denied")
        claimed = request.headers.get("x-amz-checksum-sha256")
        if claimed is not None and claimed != base64.b64encode(hashlib.sha256(body).digest()).decode():
            raise Rejected(400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")

    def _signature_or_none(self, request: Request, raw_uri: str, params: dict[str, str],
                           credentials: Credentials) -> str | None:
        """None when the request cannot be replayed at all: a Host header that is no host (`[`) is no URL."""
        try:
            return self._expected_signature(request, raw_uri, params, credentials)
        except ValueError:
            return None

    def _expected_signature(self, request: Request, raw_uri: str, params: dict[str, str],
                            credentials: Credentials) -> str:
        """botocore's presigner, replayed over the request as it arrived: its method, host, path, query and the
        values actually sent for every signed header. A header that was signed but not sent changes the signed
        header list, hence the signature; so does any other credential, scope or region."""
        signed = params["X-Amz-SignedHeaders"].split(";")
        headers = {name: request.headers[name] for name in signed if name in request.headers}
        operation_query = "&".join(f"{name}={value}" for name, value in _raw_pairs(raw_uri) if name not in _AUTH_PARAMS)
        parts = urlsplit(raw_uri)
        url = f"http://{request.headers.get('Host', '')}{parts.path}" + (f"?{operation_query}" if operation_query else "")
        replay = AWSRequest(method=request.method, url=url, headers=headers)
        replay.context["timestamp"] = params["X-Amz-Date"]
        # The session token, when the signer has one, is in the query already: signed as one of its parameters.
        signer = S3SigV4QueryAuth(credentials, "s3", self._region, expires=int(params["X-Amz-Expires"]))
        # add_auth() would stamp the current time; these are its steps with the request's own timestamp.
        signer._modify_request_before_signing(replay)
        replayed = dict(parse_qsl(urlsplit(replay.url).query, keep_blank_values=True))
        if any(replayed.get(name) != params[name] for name in ("X-Amz-Credential", "X-Amz-SignedHeaders")):
            return ""
        return signer.signature(signer.string_to_sign(replay, signer.canonical_request(replay)), replay)

    def _forward_signed(self, request: Request, raw_uri: str, body: bytes) -> Response:
        """A presigned request the gate accepted, to moto as the same operation signed in headers by `forward_as`."""
        parts = urlsplit(raw_uri)
        query = "&".join(f"{name}={value}" for name, value in _raw_pairs(raw_uri) if name not in _QUERY_AUTH)
        url = f"{self._upstream_url}{parts.path}" + (f"?{query}" if query else "")
        headers = {name: value for name, value in request.headers.items() if name.lower() not in _HOP_BY_HOP}
        signed = AWSRequest(method=request.method, url=url, data=body, headers=headers)
        S3SigV4Auth(self._forward_as, "s3", self._region).add_auth(signed)
        return self._send(request.method, url[len(self._upstream_url):], body, dict(signed.headers.items()))

    def _forward(self, request: Request, raw_uri: str, body: bytes) -> Response:
        # The Host as sent, too: it is signed, and moto (enforcing IAM) checks the signature.
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() not in _HOP_BY_HOP or name.lower() == "host"}
        return self._send(request.method, raw_uri, body, headers)

    def _send(self, method: str, raw_uri: str, body: bytes, headers: dict[str, str]) -> Response:
        if body or method in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        connection = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            connection.request(method, raw_uri, body=body, headers=headers)
            upstream = connection.getresponse()
            content = upstream.read()
            reply_headers = [(k, v) for k, v in upstream.getheaders() if k.lower() not in _HOP_BY_HOP]
            if method == "HEAD":
                # No body, and the object's Content-Length as S3 gave it: a body would make werkzeug count it (0).
                return Response(None, status=upstream.status, headers=reply_headers)
            return Response(content, status=upstream.status, headers=reply_headers)
        finally:
            connection.close()


def refuse_sigv2(params: dict[str, str]) -> None:
    """S3 refuses a SigV2 presigned request to the stack's bucket: its policy denies every request whose
    s3:signatureversion is not AWS4-HMAC-SHA256, and S3 answers that Deny with 403 AccessDenied. A SigV2 query
    that lacks one of its three parameters is refused before any policy is read."""
    present = [name for name in _SIGV2_PARAMS if name in params]
    if not present:
        return
    if len(present) < len(_SIGV2_PARAMS):
        raise Rejected(403, "AccessDenied", "Query-string authentication requires the Signature, Expires and "
                       "AWSAccessKeyId parameters")
    raise Rejected(403, "AccessDenied", "Access Denied")


def refuse_unsigned_amz_headers(request: Request, signed_headers: str) -> None:
    """S3 refuses a presigned request carrying an x-amz-* header that X-Amz-SignedHeaders does not name: such a
    header (metadata, tagging, ACL, storage class...) would change what is stored without the signer's consent."""
    signed = set(signed_headers.lower().split(";"))
    unsigned = [
        name
        for name in dict.fromkeys(header.lower() for header in request.headers.keys())
        if name.startswith("x-amz-") and name not in signed and name not in _UNSIGNED_AMZ_HEADERS_ALLOWED
    ]
    if unsigned:
        raise Rejected(403, "AccessDenied", "There were headers present in the request which were not signed",
                       HeadersNotSigned=", ".join(unsigned))


def _raw_pairs(raw_uri: str) -> list[tuple[str, str]]:
    """The query's pairs as sent (still percent-encoded): the signer decodes and re-encodes them itself."""
    query = urlsplit(raw_uri).query
    return [(pair.partition("=")[0], pair.partition("=")[2]) for pair in query.split("&") if pair]
