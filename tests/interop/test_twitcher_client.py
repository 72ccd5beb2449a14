"""`twitcher.client.TwitcherService` of pyramid-twitcher 0.11.3, every method, against
this server. Its methods return the JSON answer, or None (after logging an error) when
the answer is not ok; fetch_token raises oauthlib's errors."""

import pytest
from oauthlib.oauth2.rfc6749.errors import InvalidClientError, InvalidScopeError
from twitcher.client import TwitcherService

import support


@pytest.fixture(scope="module")
def service(env):
    return TwitcherService(env.twitcher, username=env.admin_user, password=env.admin_password)


@pytest.fixture(scope="module")
def wrong_password(env):
    return TwitcherService(env.twitcher, username=env.admin_user, password="wrong")


def test_add_client_app(service):
    client = service.add_client_app(name="client_app", redirect_uri="http://127.0.0.1/cb")
    assert client["name"] == "client_app"
    assert client["redirect_uri"] == "http://127.0.0.1/cb"
    assert client["scope"] == ["compute"]
    assert client["client_id"] and client["client_secret"]


def test_add_client_app_with_defaults(service):
    client = service.add_client_app()
    assert (client["name"], client["redirect_uri"], client["scope"]) == ("", "", ["compute"])


def test_add_client_app_with_a_wrong_password_returns_none(wrong_password):
    assert wrong_password.add_client_app(name="nope") is None


def test_fetch_token(env, service):
    client = service.add_client_app(name="token_app")
    token = service.fetch_token(client["client_id"], client["client_secret"], scope="compute")
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == ["compute"]
    assert support.introspect(env, token["access_token"])["active"] is True


def test_fetch_token_with_the_default_scope(service):
    client = service.add_client_app(name="token_default_app")
    token = service.fetch_token(client["client_id"], client["client_secret"])
    assert token["scope"] == ["compute"]


def test_fetch_token_with_a_wrong_secret_raises(service):
    client = service.add_client_app(name="token_bad_app")
    with pytest.raises(InvalidClientError):
        service.fetch_token(client["client_id"], "wrong")


def test_fetch_token_for_a_scope_the_client_lacks_raises(service):
    client = service.add_client_app(name="token_scope_app")
    with pytest.raises(InvalidScopeError):
        service.fetch_token(client["client_id"], client["client_secret"], scope="register")


def test_register_service(env, service):
    stored = service.register_service("client_emu", env.emu, data={"type": "wps", "auth": "token"})
    assert stored == {
        "url": env.emu,
        "name": "client_emu",
        "type": "wps",
        "purl": "",
        "auth": "token",
        "public": False,
        "verify": True,
    }


def test_register_service_sanitises_and_takes_strings(env, service):
    stored = service.register_service(
        "Client Emu 2", env.emu + "?a=b", data={"auth": "public", "verify": "0", "purl": "http://x.org/wps"}
    )
    assert stored["name"] == "client_emu_2"
    assert stored["url"] == env.emu
    assert (stored["auth"], stored["public"], stored["verify"]) == ("public", True, False)
    assert stored["purl"] == "http://x.org/wps"


def test_register_service_with_a_wrong_password_returns_none(env, wrong_password):
    assert wrong_password.register_service("client_nope", env.emu) is None


def test_get_service(env, service):
    service.register_service("client_get", env.emu)
    got = service.get_service("client_get")
    assert got["name"] == "client_get"
    assert got["url"] == env.emu


def test_get_service_unknown_returns_none(service):
    # The original answers 200 {} here; this server 404, which the client takes as not ok.
    assert service.get_service("client_unknown") is None


def test_list_services(env, service):
    service.register_service("client_listed", env.emu)
    listed = service.list_services()
    assert "client_listed" in [s["name"] for s in listed]
    assert all(set(s) == {"url", "name", "type", "purl", "auth", "public", "verify"} for s in listed)


def test_list_services_with_a_wrong_password_returns_none(wrong_password):
    assert wrong_password.list_services() is None


def test_unregister_service(env, service):
    service.register_service("client_gone", env.emu)
    assert service.unregister_service("client_gone") is True
    assert service.get_service("client_gone") is None
    assert service.unregister_service("client_gone") is False


def test_clear_services(env, service):
    service.register_service("client_one", env.emu)
    assert service.clear_services() is True
    assert service.list_services() == []


def test_clear_services_with_a_wrong_password_returns_none(wrong_password):
    assert wrong_password.clear_services() is None
