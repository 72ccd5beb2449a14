"""birdy 0.10.0's WPSClient through twitcher's OWS proxy to Emu, with a bearer token:
the process methods it builds from GetCapabilities and DescribeProcess, synchronous and
monitored (asynchronous) execution, and birdy's own error for a refused request."""

import pytest
from birdy import WPSClient
from birdy.exceptions import UnauthorizedException


@pytest.fixture(scope="module")
def auth(compute_token):
    return {"Authorization": f"Bearer {compute_token}"}


def test_client_builds_the_process_methods(emu_proxy, auth):
    emu = WPSClient(emu_proxy, headers=auth)
    for name in ("hello", "chomsky", "ultimate_question"):
        assert callable(getattr(emu, name, None)), name
    # The docstring comes from the process description.
    assert "friendly Hello" in emu.hello.__doc__
    assert "name : string" in emu.hello.__doc__


def test_hello_sync(emu_proxy, auth):
    emu = WPSClient(emu_proxy, headers=auth)
    r = emu.hello(name="birdy")
    assert r.isSucceded()
    assert r.get(asobj=True).output == "Hello birdy"
    assert r.get().output == "Hello birdy"


def test_hello_monitored(emu_proxy, auth):
    # progress=True: ASYNC execution, polled by birdy's console monitor.
    emu = WPSClient(emu_proxy, headers=auth, progress=True)
    r = emu.hello(name="monitored")
    assert r.statusLocation.startswith(emu_proxy + "/outputs/"), r.statusLocation
    assert r.isComplete()
    assert r.get(asobj=True).output == "Hello monitored"


def test_execute_without_a_token_raises_unauthorized(emu_proxy):
    emu = WPSClient(emu_proxy)  # the capabilities and descriptions are public
    with pytest.raises(UnauthorizedException):
        emu.hello(name="anon")


def test_execute_with_a_wrong_scope_raises_unauthorized(emu_proxy, register_token):
    emu = WPSClient(emu_proxy, headers={"Authorization": f"Bearer {register_token}"})
    with pytest.raises(UnauthorizedException):
        emu.hello(name="scope")
