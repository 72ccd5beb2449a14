"""requests-oauthlib 1.1.0 (with oauthlib 2.1.0, the versions Twitcher 0.11.3 pins): the
client-credentials grant (RFC 6749 §4.4) with BackendApplicationClient, the client in
the body or in HTTP Basic, and the token used by OAuth2Session."""

import os

import pytest
from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidClientError, InvalidScopeError
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

import support

# Plain HTTP on loopback.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


@pytest.fixture(scope="module")
def client(env):
    return support.new_client(env, name="oauthlib_app", scope="compute register")


def session(client_id, scope=None):
    return OAuth2Session(client=BackendApplicationClient(client_id=client_id), scope=scope)


def fetch(env, oauth, **kw):
    """fetch_token as Twitcher's own client calls it: the scope in the request body, and
    oauthlib checks that the answer grants the session's scope."""
    return oauth.fetch_token(f"{env.twitcher}/oauth/token", scope=oauth.scope, **kw)


def test_token_with_the_client_in_the_body(env, client):
    client_id, secret = client
    oauth = session(client_id, ["compute"])
    token = fetch(env, oauth, client_id=client_id, client_secret=secret, include_client_id=True)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == ["compute"]
    assert isinstance(token["expires_at"], float)
    assert oauth.authorized
    assert support.introspect(env, token["access_token"])["scope"] == "compute"


def test_token_with_the_client_in_http_basic(env, client):
    client_id, secret = client
    oauth = session(client_id, ["compute"])
    token = fetch(env, oauth, auth=HTTPBasicAuth(client_id, secret))
    assert token["scope"] == ["compute"]
    assert support.introspect(env, token["access_token"])["active"] is True


def test_token_with_every_scope_of_the_client(env, client):
    client_id, secret = client
    oauth = session(client_id, ["compute", "register"])
    token = fetch(env, oauth, client_id=client_id, client_secret=secret, include_client_id=True)
    assert sorted(token["scope"]) == ["compute", "register"]


def test_token_without_a_scope_has_every_scope_of_the_client(env, client):
    client_id, secret = client
    token = fetch(env, session(client_id), auth=HTTPBasicAuth(client_id, secret))
    assert sorted(token["scope"]) == ["compute", "register"]


def test_session_sends_the_token_to_the_registry(env, client):
    client_id, secret = client
    oauth = session(client_id, ["register"])
    fetch(env, oauth, auth=HTTPBasicAuth(client_id, secret))
    r = oauth.get(f"{env.twitcher}/services", timeout=10)
    assert r.status_code == 200, support.redact(r.text)
    assert isinstance(r.json(), list)


def test_session_token_without_the_scope_is_refused(env, client):
    client_id, secret = client
    oauth = session(client_id, ["compute"])
    fetch(env, oauth, auth=HTTPBasicAuth(client_id, secret))
    r = oauth.get(f"{env.twitcher}/services", timeout=10)
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers.get("WWW-Authenticate", "")


def test_session_token_opens_the_ows_proxy(env, client, emu_proxy):
    client_id, secret = client
    oauth = session(client_id, ["compute"])
    fetch(env, oauth, auth=HTTPBasicAuth(client_id, secret))
    r = oauth.get(
        emu_proxy,
        params={
            "service": "WPS",
            "version": "1.0.0",
            "request": "Execute",
            "identifier": "hello",
            "DataInputs": "name=oauthlib",
        },
        timeout=30,
    )
    assert r.status_code == 200, support.redact(r.text[:500])
    assert "Hello oauthlib" in r.text


def test_wrong_secret_raises_invalid_client(env, client):
    client_id, _ = client
    with pytest.raises(InvalidClientError):
        fetch(env, session(client_id, ["compute"]), client_id=client_id, client_secret="wrong", include_client_id=True)


def test_unknown_scope_raises_invalid_scope(env, client):
    client_id, secret = client
    with pytest.raises(InvalidScopeError):
        fetch(env, session(client_id, ["admin"]), client_id=client_id, client_secret=secret, include_client_id=True)
