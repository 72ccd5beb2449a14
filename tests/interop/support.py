"""Shared by the interop checks: where the servers run (run.sh exports it), set-up over
the HTTP API with requests, and masking of secrets in failure reports."""

import ast
import os
import re
import subprocess
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests


def _need(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: run the suite with tests/interop/run.sh, which starts the servers"
        )
    return value


@dataclass(frozen=True)
class Env:
    twitcher: str  # main twitcher (custom_token), e.g. http://127.0.0.1:PORT
    keycloak_twitcher: str  # second twitcher in keycloak_token mode
    emu: str  # the Emu backend's own WPS URL, .../wps
    emu_access_log: str  # gunicorn's access log of Emu: the request lines Emu got
    nginx: str  # nginx in front of Emu, .../wps, with auth_request against twitcher
    nginx_h2: str  # the same nginx over cleartext HTTP/2 (prior knowledge), .../wps
    jwks_file: str  # the file the JWKS server serves as the realm's certs
    keycloak_issuer: str
    admin_user: str
    admin_password: str
    twitcherctl: str
    examples: int

    @property
    def admin(self):
        return (self.admin_user, self.admin_password)

    @property
    def emu_origin(self):
        """scheme://host:port of the backend: must never show in proxied responses."""
        u = urlsplit(self.emu)
        return f"{u.scheme}://{u.netloc}"

    def proxy(self, name="emu", base=None):
        return f"{base or self.twitcher}/ows/proxy/{name}"

    def verify(self, name="emu", base=None):
        return f"{base or self.twitcher}/ows/verify/{name}"


def load_env():
    return Env(
        twitcher=_need("INTEROP_TWITCHER_URL"),
        keycloak_twitcher=_need("INTEROP_KEYCLOAK_TWITCHER_URL"),
        emu=_need("INTEROP_EMU_URL"),
        emu_access_log=_need("INTEROP_EMU_ACCESS_LOG"),
        nginx=_need("INTEROP_NGINX_URL"),
        nginx_h2=_need("INTEROP_NGINX_H2_URL"),
        jwks_file=_need("INTEROP_JWKS_FILE"),
        keycloak_issuer=_need("INTEROP_KEYCLOAK_ISSUER"),
        admin_user=_need("INTEROP_ADMIN_USER"),
        admin_password=_need("INTEROP_ADMIN_PASSWORD"),
        twitcherctl=_need("INTEROP_TWITCHERCTL"),
        examples=int(_need("INTEROP_EXAMPLES")),
    )


# --- masking -----------------------------------------------------------------------------

_PATTERNS = [
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "<jwt>"),
    (re.compile(r"(Bearer\s+)[^\s'\"]+"), r"\1***"),
    (re.compile(r"(access_token=)[^&\s'\"]*"), r"\1***"),
    (
        re.compile(r"""(['"]?(?:access_token|client_secret|refresh_token|password)['"]?\s*[:=]\s*['"]?)[^'"&\s,}]+"""),
        r"\1***",
    ),
]


def redact(text):
    """Masks tokens, client secrets and the suite's passwords in text for a report."""
    if not text:
        return text
    for name in ("INTEROP_ADMIN_PASSWORD", "INTEROP_TOKEN_SECRET"):
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "***")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


# --- set-up through the HTTP API ------------------------------------------------------------


def register_service(env, name, url, base=None, **fields):
    """POST /services with the admin's password; returns the stored service."""
    body = {"name": name, "url": url, **fields}
    r = requests.post(f"{base or env.twitcher}/services", json=body, auth=env.admin, timeout=10)
    assert r.status_code == 200, f"register {name}: {r.status_code} {redact(r.text)}"
    return r.json()


def new_client(env, name="interop", scope="compute", base=None):
    """A client application via /oauth/client; returns (client_id, client_secret)."""
    r = requests.get(
        f"{base or env.twitcher}/oauth/client",
        params={"name": name, "scope": scope},
        auth=env.admin,
        timeout=10,
    )
    assert r.status_code == 200, f"/oauth/client: {r.status_code} {redact(r.text)}"
    data = r.json()
    return data["client_id"], data["client_secret"]


def get_token(env, scope="compute", base=None):
    """An access token of a new client with that scope (client-credentials grant)."""
    client_id, secret = new_client(env, scope=scope, base=base)
    r = requests.post(
        f"{base or env.twitcher}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=10,
    )
    assert r.status_code == 200, f"/oauth/token: {r.status_code} {redact(r.text)}"
    return r.json()["access_token"]


def introspect(env, token, base=None):
    r = requests.post(
        f"{base or env.twitcher}/oauth/introspect", data={"token": token}, auth=env.admin, timeout=10
    )
    assert r.status_code == 200, f"/oauth/introspect: {r.status_code} {redact(r.text)}"
    return r.json()


# --- the original's twitcherctl --------------------------------------------------------------


@dataclass
class CtlResult:
    code: int
    stdout: str
    stderr: str

    def value(self):
        """twitcherctl prints its result as a Python repr on stderr; parse it."""
        text = self.stderr.strip()
        assert text, f"twitcherctl printed nothing (exit {self.code})"
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as e:
            raise AssertionError(f"not a Python literal: {redact(text)}") from e


def twitcherctl(env, *args, server=None):
    """Runs Twitcher 0.11.3's twitcherctl. It exits 1 on success (sys.exit(result)),
    and 0 on failure, after logging ERROR:... to stderr."""
    cmd = [env.twitcherctl, "-s", server or env.twitcher, *args]
    p = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return CtlResult(p.returncode, p.stdout, p.stderr)


# --- XML -----------------------------------------------------------------------------------------

_URL = re.compile(r"""https?://[^\s"'<>]+""")


def local_urls(text):
    """Every http URL on 127.0.0.1 in a document (namespace and schema URLs are elsewhere)."""
    return [u for u in _URL.findall(text) if urlsplit(u).hostname == "127.0.0.1"]
