"""A minimal LTI 1.3 platform (the LMS's side) on 127.0.0.1, for tests/test_lti.py and
tests/test_lti_hub.py.

It does what Canvas and Moodle do for a tool, no more: publishes its JWKS (``/jwks``); issues
access tokens (``/token``) only for a client assertion signed by the tool's registered public
key, with aud = the token URL, unexpired, iss = sub = client_id; tokens expire; keeps line
items (``/lineitems``: GET filtered by resource_id and tag, POST) and their scores
(``/lineitems/<n>/scores``) and results (``/lineitems/<n>/results``); answers 422 for a user
not in the course (as Canvas does). Faults are switched on by the test: a 500 for a user's
next n scores, every token revoked after n uses. It signs launch id_tokens (``id_token``).

The launch (LTI 1.3 / OIDC third-party-initiated login, as the LMS runs it for a student who
clicks the tool): ``launch`` returns the login initiation parameters the LMS sends to the
tool's OIDC initiation URL (iss, login_hint, target_link_uri, lti_message_hint, client_id,
lti_deployment_id); the tool redirects the browser to ``/authorize``, which checks what an LMS
checks (response_type id_token, scope openid, response_mode form_post, prompt none, the
client_id, a registered redirect_uri, the login_hint and lti_message_hint it issued, a state
and a nonce) and answers with the auto-submitting form that posts id_token (the nonce in it)
and state to the redirect_uri. ``sign_launches_with`` forges them with another key.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from jwcrypto import jwk, jws, jwt

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
RESULT_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
TARGET_LINK_URI = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri"


@dataclass
class Platform:
    tool_key: jwk.JWK  # the tool's public key, as registered on the LMS
    client_id: str = "c1w3-tool"
    members: set[str] = field(default_factory=set)  # LTI user ids in the course
    token_seconds: int = 3600
    key: jwk.JWK = field(default_factory=lambda: jwk.JWK.generate(kty="RSA", size=2048, kid="p1"))
    line_items: list[dict] = field(default_factory=list)
    scores: dict[int, list[dict]] = field(default_factory=dict)  # line item index -> scores
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    token_requests: int = 0
    fail_scores: dict[str, int] = field(default_factory=dict)  # user id -> 500s still to give
    revoke_after: int | None = None  # every token stops working after this many uses
    tokens: dict[str, dict] = field(default_factory=dict)
    redirect_uris: list[str] = field(default_factory=list)  # the tool's, as registered
    launches: dict[str, dict] = field(default_factory=dict)  # login_hint -> the launch
    authorizations: list[dict] = field(default_factory=list)  # /authorize's queries
    sign_launches_with: jwk.JWK | None = None  # None: the platform's key (in its JWKS)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    @property
    def lineitems_url(self) -> str:
        return self.url + "/lineitems"

    @property
    def jwks_url(self) -> str:
        return self.url + "/jwks"

    @property
    def authorize_url(self) -> str:
        return self.url + "/authorize"

    def sent(self) -> list[tuple[str, str]]:
        """What the tool changed: every POST except for tokens."""
        return [r for r in self.requests if r[0] == "POST" and r[1] != "/token"]

    def latest(self, item: int = 0) -> dict[str, dict]:
        """user id -> the latest score posted to line item `item`."""
        return {s["userId"]: s for s in self.scores.get(item, [])}

    def launch(self, sub: str, target_link_uri: str, **claims) -> dict[str, str]:
        """A student (LTI user id `sub`) clicks the tool: the login initiation parameters the
        LMS sends the tool; the id_token's other `claims` wait for /authorize."""
        hint, message_hint = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        self.launches[hint] = {"sub": sub, "message_hint": message_hint,
                               "claims": {**claims, TARGET_LINK_URI: target_link_uri}}  # fmt: skip
        return {
            "iss": self.issuer, "login_hint": hint, "target_link_uri": target_link_uri,
            "lti_message_hint": message_hint, "client_id": self.client_id,
            "lti_deployment_id": "1",
        }  # fmt: skip

    def id_token(self, sub: str, nonce: str, key: jwk.JWK | None = None, **claims) -> str:
        """A launch's id_token (LtiResourceLinkRequest), signed with the platform's key (or
        `key`)."""
        now = int(time.time())
        body = {
            "iss": self.issuer, "aud": self.client_id, "sub": sub, "nonce": nonce,
            "iat": now, "exp": now + 300,
            "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
            "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id": "1",
            TARGET_LINK_URI: "http://hub/",
            "https://purl.imsglobal.org/spec/lti/claim/resource_link": {"id": "c1w3"},
            "https://purl.imsglobal.org/spec/lti/claim/roles": [
                "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
            ],
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                "scope": [LINEITEM_SCOPE, SCORE_SCOPE, RESULT_SCOPE],
                "lineitems": self.lineitems_url,
            },
            **claims,
        }  # fmt: skip
        token = jwt.JWT(header={"alg": "RS256", "kid": self.key["kid"]}, claims=body)
        token.make_signed_token(key or self.key)
        return token.serialize()

    # ------------------------------------------------------------------ the endpoints

    def authorize_launch(self, query: dict[str, str]) -> tuple[int, dict | str]:
        """The OIDC authentication request: refused as an LMS refuses it, else the form that
        posts the id_token (with the request's nonce) and the state back to the tool."""
        self.authorizations.append(query)
        fixed = {"response_type": "id_token", "scope": "openid", "response_mode": "form_post",
                 "prompt": "none", "client_id": self.client_id}  # fmt: skip
        wrong = [k for k, v in fixed.items() if query.get(k) != v]
        launch = self.launches.get(query.get("login_hint", ""))
        if launch is None:
            wrong.append("login_hint")
        elif query.get("lti_message_hint") != launch["message_hint"]:
            wrong.append("lti_message_hint")
        if query.get("redirect_uri") not in self.redirect_uris:
            wrong.append("redirect_uri")
        wrong += [k for k in ("state", "nonce") if not query.get(k)]
        if wrong:
            return 400, {"error": "invalid_request", "error_description": " ".join(wrong)}
        token = self.id_token(launch["sub"], query["nonce"], key=self.sign_launches_with,
                              **launch["claims"])  # fmt: skip
        fields = {"id_token": token, "state": query["state"]}
        inputs = "".join(
            f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in fields.items()
        )
        return 200, (
            '<!doctype html><html><body onload="document.forms[0].submit()">'
            f'<form method="post" action="{escape(query["redirect_uri"])}">{inputs}</form>'
            "</body></html>"
        )

    def issue_token(self, form: dict[str, str]) -> tuple[int, dict]:
        self.token_requests += 1
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        try:
            assertion = jwt.JWT(jwt=form.get("client_assertion", ""), key=self.tool_key,
                                algs=["RS256"], check_claims={"exp": None})  # fmt: skip
        except jws.InvalidJWSSignature:
            return 401, {"error": "invalid_client",
                         "error_description": "client assertion signature does not match "
                         "the tool's registered key"}  # fmt: skip
        except Exception as error:  # expired, malformed
            return 401, {"error": "invalid_client", "error_description": str(error)}
        claims = json.loads(assertion.claims)
        if claims.get("aud") not in (self.token_url, [self.token_url]):
            return 401, {"error": "invalid_client", "error_description": "aud is not the token URL"}
        if not claims.get("iss") == claims.get("sub") == self.client_id:
            return 401, {"error": "invalid_client", "error_description": "iss/sub != client_id"}
        token = secrets.token_urlsafe(16)
        scopes = form.get("scope", "").split()
        self.tokens[token] = {"expires": time.time() + self.token_seconds, "uses": 0,
                              "scopes": scopes}  # fmt: skip
        return 200, {"access_token": token, "token_type": "Bearer",
                     "expires_in": self.token_seconds, "scope": " ".join(scopes)}  # fmt: skip

    def authorize(self, header: str, scope: str) -> tuple[int, dict] | None:
        token = self.tokens.get(header.removeprefix("Bearer "))
        if token is None or token["expires"] <= time.time():
            return 401, {"error": "invalid_token", "error_description": "expired or unknown"}
        token["uses"] += 1
        if self.revoke_after is not None and token["uses"] > self.revoke_after:
            return 401, {"error": "invalid_token", "error_description": "expired"}
        if scope not in token["scopes"]:
            return 403, {"error": "insufficient_scope", "error_description": scope}
        return None

    def handle(self, method: str, path: str, query: dict, headers, body: bytes):
        self.requests.append((method, path))
        if path == "/jwks" and method == "GET":
            return 200, {"keys": [json.loads(self.key.export_public())]}
        if path == "/authorize" and method in ("GET", "POST"):
            if method == "POST":
                query = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            return self.authorize_launch(query)
        if path == "/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            return self.issue_token(form)
        auth = headers.get("Authorization", "")
        if path == "/lineitems":
            scope = LINEITEM_SCOPE
            refused = self.authorize(auth, scope)
            if refused:
                return refused
            if method == "GET":
                return 200, [
                    i for i in self.line_items
                    if all(i.get(k) == query[q] for q, k in (("resource_id", "resourceId"),
                                                             ("tag", "tag")) if q in query)
                ]  # fmt: skip
            item = {**json.loads(body), "id": f"{self.lineitems_url}/{len(self.line_items)}"}
            self.line_items.append(item)
            return 201, item
        match = re.fullmatch(r"/lineitems/(\d+)/(scores|results)", path)
        if not match or int(match[1]) >= len(self.line_items):
            return 404, {"error": "not found"}
        item, what = int(match[1]), match[2]
        refused = self.authorize(auth, SCORE_SCOPE if what == "scores" else RESULT_SCOPE)
        if refused:
            return refused
        if what == "results":
            maximum = self.line_items[item]["scoreMaximum"]
            return 200, [
                {"id": f"{self.lineitems_url}/{item}/results/{u}", "userId": u,
                 "resultScore": s["scoreGiven"] / s["scoreMaximum"] * maximum,
                 "resultMaximum": maximum, **({"comment": s["comment"]} if "comment" in s else {})}
                for u, s in self.latest(item).items()
            ]  # fmt: skip
        score = json.loads(body)
        user = score.get("userId")
        if self.fail_scores.get(user, 0) > 0:
            self.fail_scores[user] -= 1
            return 500, {"error": "internal error"}
        if user not in self.members:
            return 422, {"errors": {"type": "user", "message": "User not found in course"}}
        self.scores.setdefault(item, []).append(score)
        return 200, {"resultUrl": f"{self.lineitems_url}/{item}/results/{user}"}


def _handler(platform: Platform):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with platform.lock:
                status, answer = platform.handle(
                    self.command, parts.path, query, self.headers, body
                )
            page = isinstance(answer, str)  # /authorize's form, else JSON
            data = answer.encode() if page else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if page else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args) -> None:  # quiet: the test reads platform.requests
            pass

    return Handler


class Serving:
    """``with Serving(platform):`` the platform answers on 127.0.0.1, a free port."""

    def __init__(self, platform: Platform):
        self.platform = platform
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(platform))
        platform.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Platform:
        self.thread.start()
        return self.platform

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def new_key(kid: str | None = None) -> jwk.JWK:
    return jwk.JWK.generate(kty="RSA", size=2048, kid=kid or uuid.uuid4().hex[:8])
