"""Keycloak-style RS256 access tokens, minted with PyJWT from keys made with cryptography,
against the second twitcher (twitcher.token.type = keycloak_token). Its keycloak.jwks_url
names a realm's certs document, served by Python's http.server from a file this module
writes, as Keycloak publishes it: a signing key (use sig, RS256) and an encryption key
(use enc, RSA-OAEP). The registry takes scope `register`, the OWS proxy `compute`."""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

import support


class Key:
    def __init__(self, kid, use="sig", alg="RS256"):
        self.kid, self.use, self.alg = kid, use, alg
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self):
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {"kid": self.kid, "kty": "RSA", "alg": self.alg, "use": self.use, "n": jwk["n"], "e": jwk["e"]}

    def public_pem(self):
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def mint(self, claims, kid=None):
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": kid or self.kid, "typ": "JWT"})


class Realm:
    """The realm's certs document, as the JWKS server serves it."""

    def __init__(self, path):
        self.path = path

    def publish(self, *keys):
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as f:
            json.dump({"keys": [k.jwk() for k in keys]}, f)
        os.replace(tmp, self.path)


@pytest.fixture(scope="module")
def keys():
    return {"k1": Key("k1"), "k2": Key("k2"), "enc": Key("enc-1", use="enc", alg="RSA-OAEP")}


@pytest.fixture(scope="module")
def realm(env, keys):
    realm = Realm(env.jwks_file)
    realm.publish(keys["k1"], keys["enc"])
    yield realm
    realm.publish(keys["k1"], keys["k2"], keys["enc"])


@pytest.fixture(scope="module")
def kc(env):
    return env.keycloak_twitcher


def claims(env, scope, **over):
    """What a Keycloak access token of a client-credentials grant carries."""
    now = int(time.time())
    c = {
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "iss": env.keycloak_issuer,
        "aud": "account",
        "sub": str(uuid.uuid4()),
        "typ": "Bearer",
        "azp": "interop-client",
        "acr": "1",
        "realm_access": {"roles": ["default-roles-demo", "offline_access"]},
        "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
        "scope": scope,
        "clientId": "interop-client",
        "email_verified": False,
        "preferred_username": "service-account-interop-client",
    }
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def registry(kc, token):
    return requests.get(f"{kc}/services", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_token_with_scope_register_opens_the_registry(env, realm, keys, kc):
    r = registry(kc, keys["k1"].mint(claims(env, "profile email register")))
    assert r.status_code == 200, r.text
    assert isinstance(r.json(), list)


def test_audience_as_a_list(env, realm, keys, kc):
    token = keys["k1"].mint(claims(env, "register", aud=["realm-management", "account"]))
    assert registry(kc, token).status_code == 200


def test_token_without_the_scope_gets_403(env, realm, keys, kc):
    r = registry(kc, keys["k1"].mint(claims(env, "profile email compute")))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers.get("WWW-Authenticate", "")


@pytest.mark.parametrize(
    "what,over",
    [
        ("expired", {"exp": int(time.time()) - 60}),
        ("not yet valid", {"nbf": int(time.time()) + 600}),
        ("another audience", {"aud": "realm-management"}),
        ("no audience", {"aud": None}),
        ("another issuer", {"iss": "http://127.0.0.1:1/realms/other"}),
    ],
)
def test_claims_that_do_not_fit_get_401(env, realm, keys, kc, what, over):
    r = registry(kc, keys["k1"].mint(claims(env, "register", **over)))
    assert r.status_code == 401, f"{what}: {r.status_code}"
    assert 'error="invalid_token"' in r.headers.get("WWW-Authenticate", ""), what


def test_token_signed_by_an_unpublished_key_gets_401(env, realm, kc):
    forged = Key("k1").mint(claims(env, "register"))
    assert registry(kc, forged).status_code == 401


def test_token_signed_with_the_encryption_key_gets_401(env, realm, keys, kc):
    assert registry(kc, keys["enc"].mint(claims(env, "register"))).status_code == 401


def test_hs256_keyed_with_the_public_key_gets_401(env, realm, keys, kc):
    # The algorithm-confusion forgery; PyJWT refuses to make it, so it is made by hand.
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = b64(json.dumps(claims(env, "register")).encode())
    mac = hmac.new(keys["k1"].public_pem(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert registry(kc, f"{header}.{payload}.{b64(mac)}").status_code == 401


def test_no_tokens_are_issued_here(env, kc):
    client_id, secret = support.new_client(env, base=kc)
    r = requests.post(
        f"{kc}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


def test_compute_token_opens_the_ows_proxy(env, realm, keys, kc):
    support.register_service(env, "emu", env.emu, base=kc)
    query = {"service": "WPS", "version": "1.0.0", "request": "Execute", "identifier": "hello", "DataInputs": "name=kc"}
    good = keys["k1"].mint(claims(env, "openid compute"))
    r = requests.get(env.proxy("emu", base=kc), params=query, headers={"Authorization": f"Bearer {good}"}, timeout=30)
    assert r.status_code == 200, support.redact(r.text[:300])
    assert "Hello kc" in r.text
    wrong = keys["k1"].mint(claims(env, "openid register"))
    v = requests.get(env.verify("emu", base=kc), params=query, headers={"Authorization": f"Bearer {wrong}"}, timeout=30)
    assert v.status_code == 403
    assert requests.get(env.verify("emu", base=kc), params=query, timeout=30).status_code == 401


def test_rotated_keys_are_fetched(env, realm, keys, kc):
    """Keycloak rotates its keys: a token with a new kid makes the server fetch the
    JWKS again; a key no longer published stops working."""
    assert registry(kc, keys["k1"].mint(claims(env, "register"))).status_code == 200
    realm.publish(keys["k2"], keys["enc"])
    assert registry(kc, keys["k2"].mint(claims(env, "register"))).status_code == 200
    assert registry(kc, keys["k1"].mint(claims(env, "register"))).status_code == 401
