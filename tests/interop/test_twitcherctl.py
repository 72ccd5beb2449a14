"""Twitcher 0.11.3's own `twitcherctl` (pyramid-twitcher from PyPI) against this server:
the tutorial flow add, gentoken, register, list, unregister, clear, each checked through
the API as well. twitcherctl prints its result as a Python repr to stderr and exits 1 on
success (sys.exit(result)); on failure it logs ERROR:... and exits 0."""

import re

import requests

import support


def ctl(env, *args, admin=True):
    creds = ["-u", env.admin_user, "-p", env.admin_password] if admin else []
    return support.twitcherctl(env, *creds, *args)


def test_add_registers_a_client_application(env):
    r = ctl(env, "add", "--name", "ctl_app", "--redirect-uri", "http://127.0.0.1/cb")
    assert r.code == 1, support.redact(r.stderr)
    client = r.value()
    assert client["name"] == "ctl_app"
    assert client["redirect_uri"] == "http://127.0.0.1/cb"
    assert client["scope"] == ["compute"]
    assert client["client_id"] and client["client_secret"]
    listed = requests.get(f"{env.twitcher}/oauth/clients", auth=env.admin, timeout=10).json()
    assert client["client_id"] in [c["client_id"] for c in listed]


def test_gentoken_gets_a_compute_token(env):
    client = ctl(env, "add", "--name", "ctl_token_app").value()
    r = support.twitcherctl(
        env, "gentoken", "-i", client["client_id"], "-s", client["client_secret"], "--scope", "compute"
    )
    assert r.code == 1, support.redact(r.stderr)
    token = r.value()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == ["compute"]
    assert isinstance(token["expires_at"], float)
    info = support.introspect(env, token["access_token"])
    assert info["active"] is True
    assert info["scope"] == "compute"
    assert info["client_id"] == client["client_id"]


def test_gentoken_with_a_wrong_secret_fails(env):
    client = ctl(env, "add", "--name", "ctl_bad_app").value()
    r = support.twitcherctl(env, "gentoken", "-i", client["client_id"], "-s", "wrong", "--scope", "compute")
    assert r.code == 0
    assert "ERROR:Error: (invalid_client)" in r.stderr


def test_gentoken_for_a_scope_the_client_lacks_fails(env):
    client = ctl(env, "add", "--name", "ctl_scope_app").value()
    r = support.twitcherctl(
        env, "gentoken", "-i", client["client_id"], "-s", client["client_secret"], "--scope", "register"
    )
    assert r.code == 0
    assert "(invalid_scope)" in r.stderr


def test_register_with_a_name(env):
    r = ctl(env, "register", "--name", "ctl_emu", env.emu)
    assert r.code == 1, support.redact(r.stderr)
    want = {
        "url": env.emu,
        "name": "ctl_emu",
        "type": "wps",
        "purl": "",
        "auth": "token",
        "public": False,
        "verify": True,
    }
    assert r.value() == want
    stored = requests.get(f"{env.twitcher}/services/ctl_emu", auth=env.admin, timeout=10)
    assert stored.status_code == 200
    assert stored.json() == want


def test_register_with_every_option(env):
    r = ctl(
        env,
        "register",
        "--name",
        "Ctl WMS!",
        "--type",
        "wms",
        "--purl",
        "http://example.org/wms",
        "--auth",
        "public",
        "--verify",
        "false",
        env.emu + "?service=WMS",
    )
    assert r.code == 1, support.redact(r.stderr)
    service = r.value()
    # The name is sanitised and the URL loses its query, as in Twitcher.
    assert service["name"] == "ctl_wms_"
    assert service["url"] == env.emu
    assert service["type"] == "wms"
    assert service["purl"] == "http://example.org/wms"
    assert service["auth"] == "public"
    assert service["public"] is True
    assert service["verify"] is False


def test_register_without_a_name_picks_one(env):
    r = ctl(env, "register", env.emu)
    assert r.code == 1, support.redact(r.stderr)
    name = r.value()["name"]
    assert re.fullmatch(r"[a-z]+_[a-z]+", name), name
    got = requests.get(f"{env.twitcher}/services/{name}", auth=env.admin, timeout=10)
    assert got.status_code == 200


def test_list_shows_what_the_api_lists(env):
    ctl(env, "register", "--name", "ctl_listed", env.emu)
    r = ctl(env, "list")
    assert r.code == 1, support.redact(r.stderr)
    listed = r.value()
    assert isinstance(listed, list)
    assert "ctl_listed" in [s["name"] for s in listed]
    api = requests.get(f"{env.twitcher}/services", auth=env.admin, timeout=10).json()
    assert listed == api


def test_list_with_a_wrong_password_fails(env):
    r = support.twitcherctl(env, "-u", env.admin_user, "-p", "wrong", "list")
    assert r.code == 0
    assert r.stderr.strip() == "ERROR:Could not list services"


def test_unregister(env):
    ctl(env, "register", "--name", "ctl_gone", env.emu)
    r = ctl(env, "unregister", "ctl_gone")
    # True -> exit 1, and sys.exit(True) prints nothing.
    assert (r.code, r.stderr.strip()) == (1, "")
    gone = requests.get(f"{env.twitcher}/services/ctl_gone", auth=env.admin, timeout=10)
    assert gone.status_code == 404


def test_unregister_an_unknown_name(env):
    r = ctl(env, "unregister", "ctl_never_there")
    # False -> exit 0, nothing printed: as with the original.
    assert (r.code, r.stderr.strip()) == (0, "")


def test_clear(env):
    ctl(env, "register", "--name", "ctl_one", env.emu)
    r = ctl(env, "clear")
    assert (r.code, r.stderr.strip()) == (1, "")
    assert requests.get(f"{env.twitcher}/services", auth=env.admin, timeout=10).json() == []


def test_tutorial_token_opens_the_proxy(env):
    """The whole tutorial: add, gentoken, register emu, then the token at the proxy."""
    client = ctl(env, "add", "--name", "tutorial_app").value()
    token = support.twitcherctl(
        env, "gentoken", "-i", client["client_id"], "-s", client["client_secret"], "--scope", "compute"
    ).value()["access_token"]
    assert ctl(env, "register", "--name", "tutorial_emu", env.emu).code == 1
    url = env.proxy("tutorial_emu")
    query = {
        "service": "WPS",
        "version": "1.0.0",
        "request": "Execute",
        "identifier": "hello",
        "DataInputs": "name=tux",
    }
    anon = requests.get(url, params=query, timeout=30)
    assert anon.status_code == 401, anon.text[:500]
    r = requests.get(url, params=query, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, support.redact(r.text[:500])
    assert "Hello tux" in r.text
    assert (ctl(env, "unregister", "tutorial_emu").code, ctl(env, "clear").code) == (1, 1)
