"""OWSLib 0.35.0 through twitcher's OWS proxy to the Emu WPS backend: GetCapabilities,
DescribeProcess, and Execute of `hello`, synchronous and asynchronous, with the status
polled through the proxy. Every URL in what the proxy answers must point at the proxy,
never at the backend."""

import time

import pytest
import requests
from lxml import etree
from owslib.util import ServiceException
from owslib.wps import ASYNC, SYNC, WebProcessingService

import support


@pytest.fixture(scope="module")
def auth(compute_token):
    return {"Authorization": f"Bearer {compute_token}"}


@pytest.fixture(scope="module")
def wps(emu_proxy, auth):
    # The constructor already asks for the capabilities.
    return WebProcessingService(emu_proxy, headers=auth)


def assert_only_proxy_urls(env, proxy, text, what):
    assert env.emu_origin not in text, f"{what} leaks the backend URL {env.emu_origin}"
    for url in support.local_urls(text):
        assert url.startswith(proxy), f"{what}: {url} does not point at the proxy"


def as_text(doc):
    """OWSLib keeps a response as bytes or as a parsed lxml element."""
    if isinstance(doc, bytes):
        return doc.decode()
    if isinstance(doc, str):
        return doc
    return etree.tostring(doc).decode()


def test_getcapabilities_without_a_token(env, emu_proxy):
    wps = WebProcessingService(emu_proxy)
    assert wps.identification.title == "Emu"
    assert wps.version == "1.0.0"
    assert "hello" in [p.identifier for p in wps.processes]
    ops = {op.name: [m["url"] for m in op.methods] for op in wps.operations}
    assert set(ops) >= {"GetCapabilities", "DescribeProcess", "Execute"}
    for name, urls in ops.items():
        assert urls and all(u == emu_proxy for u in urls), f"{name}: {urls}"
    raw = requests.get(emu_proxy, params={"service": "WPS", "request": "GetCapabilities"}, timeout=30)
    assert raw.status_code == 200
    assert_only_proxy_urls(env, emu_proxy, raw.text, "GetCapabilities")


def test_describeprocess_without_a_token(emu_proxy):
    wps = WebProcessingService(emu_proxy, skip_caps=True)
    p = wps.describeprocess("hello")
    assert p.identifier == "hello"
    assert p.title == "Say Hello"
    assert [i.identifier for i in p.dataInputs] == ["name"]
    assert [o.identifier for o in p.processOutputs] == ["output"]


def test_execute_sync(env, emu_proxy, wps):
    ex = wps.execute("hello", inputs=[("name", "tux")], output=[("output", False)], mode=SYNC)
    assert ex.status == "ProcessSucceeded", ex.errors
    assert [(o.identifier, o.data) for o in ex.processOutputs] == [("output", ["Hello tux"])]
    assert ex.serviceInstance.startswith(emu_proxy + "?"), ex.serviceInstance
    assert_only_proxy_urls(env, emu_proxy, as_text(ex.response), "Execute (sync)")


def test_execute_async_polls_through_the_proxy(env, emu_proxy, wps):
    ex = wps.execute("hello", inputs=[("name", "async")], output=[("output", False)], mode=ASYNC)
    assert ex.status in ("ProcessAccepted", "ProcessStarted", "ProcessSucceeded"), ex.errors
    assert ex.statusLocation.startswith(emu_proxy + "/outputs/"), ex.statusLocation
    assert_only_proxy_urls(env, emu_proxy, as_text(ex.response), "Execute (async)")
    deadline = time.monotonic() + 60
    polls = 0
    while not ex.isComplete():
        assert time.monotonic() < deadline, f"still {ex.status} after {polls} polls"
        # OWSLib's own polling (monitorExecution's step), with the session's headers.
        ex.checkStatus(sleepSecs=0.2)
        polls += 1
        assert ex.response is not None, "no status document read through the proxy"
        assert_only_proxy_urls(env, emu_proxy, as_text(ex.response), "status document")
    assert ex.isSucceded(), ex.errors
    assert [(o.identifier, o.data) for o in ex.processOutputs] == [("output", ["Hello async"])]
    # The status document is protected like the rest of the service.
    anon = requests.get(ex.statusLocation, timeout=30)
    assert anon.status_code == 401, anon.text[:300]


def test_execute_output_by_reference(env, emu_proxy, wps, auth):
    ex = wps.execute("chomsky", inputs=[("times", "1")], output=[("output", True)], mode=SYNC)
    assert ex.isSucceded(), ex.errors
    (out,) = ex.processOutputs
    assert out.reference.startswith(emu_proxy + "/outputs/"), out.reference
    assert_only_proxy_urls(env, emu_proxy, as_text(ex.response), "Execute (reference)")
    text = out.retrieveData(headers=auth)
    assert len(text) > 20
    assert requests.get(out.reference, timeout=30).status_code == 401


HELLO = {"service": "WPS", "version": "1.0.0", "request": "Execute", "identifier": "hello", "DataInputs": "name=x"}


def test_execute_without_a_token_is_refused(emu_proxy):
    anon = WebProcessingService(emu_proxy, skip_caps=True)
    with pytest.raises(ServiceException) as e:
        anon.execute("hello", inputs=[("name", "anon")], mode=SYNC)
    assert "ExceptionReport" in str(e.value)
    r = requests.get(emu_proxy, params=HELLO, timeout=30)
    assert r.status_code == 401
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_execute_with_a_wrong_scope_is_refused(emu_proxy, register_token):
    auth = {"Authorization": f"Bearer {register_token}"}
    wps = WebProcessingService(emu_proxy, skip_caps=True, headers=auth)
    with pytest.raises(ServiceException) as e:
        wps.execute("hello", inputs=[("name", "scope")], mode=SYNC)
    assert "ExceptionReport" in str(e.value)
    assert requests.get(emu_proxy, params=HELLO, headers=auth, timeout=30).status_code == 403
