"""nginx (Debian's nginx-light) in front of Emu, each request to /wps authorised by an
`auth_request` to twitcher's /ows/verify/nginx_emu (conf/nginx.conf.in). twitcher
decides; nginx forwards an allowed request to Emu itself, and sends a refused one, or one
that may carry a token (in its query or a form body), to twitcher's /ows/proxy/nginx_emu. Requests without a token get 401,
with a wrong scope 403, with a good token Emu's answer."""

import http.client
import re
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import requests

import support

HELLO = {
    "service": "WPS",
    "version": "1.0.0",
    "request": "Execute",
    "identifier": "hello",
    "DataInputs": "name=nginx",
}


@pytest.fixture(scope="module", autouse=True)
def registered(env, emu_proxy):
    """nginx asks about `nginx_emu`: Emu, with nginx's /wps as its public URL."""
    stored = support.register_service(env, "nginx_emu", env.emu, purl=env.nginx)
    assert stored["purl"] == env.nginx, stored


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_getcapabilities_is_public(env):
    r = requests.get(env.nginx, params={"service": "WPS", "request": "GetCapabilities"}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert "wps:Capabilities" in r.text


def test_describeprocess_is_public(env):
    r = requests.get(
        env.nginx,
        params={"service": "WPS", "version": "1.0.0", "request": "DescribeProcess", "identifier": "hello"},
        timeout=30,
    )
    assert r.status_code == 200, r.text[:300]
    assert "ProcessDescriptions" in r.text


def test_execute_without_a_token_gets_401(env):
    r = requests.get(env.nginx, params=HELLO, timeout=30)
    assert r.status_code == 401
    # twitcher's own challenge, from /ows/proxy through @twitcher.
    challenge = r.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer"), challenge
    assert 'error="invalid_token"' in challenge


def test_execute_with_an_invalid_token_gets_401(env):
    r = requests.get(env.nginx, params=HELLO, headers=bearer("not-a-token"), timeout=30)
    assert r.status_code == 401


def test_execute_with_a_wrong_scope_gets_403(env, register_token):
    r = requests.get(env.nginx, params=HELLO, headers=bearer(register_token), timeout=30)
    assert r.status_code == 403


def test_execute_with_a_good_token_passes(env, compute_token):
    r = requests.get(env.nginx, params=HELLO, headers=bearer(compute_token), timeout=30)
    assert r.status_code == 200, support.redact(r.text[:300])
    assert "Hello nginx" in r.text
    # Straight from Emu: twitcher's answers carry an X-Request-Id.
    assert "X-Request-Id" not in r.headers, r.headers


def emu_request_lines(env, marker):
    """The request lines of Emu's access log that hold `marker`, once there is one
    (gunicorn writes the line after the answer went out)."""
    deadline = time.monotonic() + 10
    while True:
        with open(env.emu_access_log, encoding="utf-8", errors="replace") as f:
            lines = [line for line in f if marker in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def raw_get(url, headers=None):
    """A GET with the query sent byte for byte: requests would decode `%61` to `a`."""
    parts = urlsplit(url)
    c = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        c.request("GET", f"{parts.path}?{parts.query}", headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def test_execute_with_an_access_token_parameter_passes_and_stays_with_twitcher(env, compute_token):
    # nginx would forward the query as it came, token and all: such a request goes
    # through /ows/proxy, which takes the token out, whichever way its name is spelt.
    for i, name in enumerate(["access_token", "access%5Ftoken", "%61ccess_token"]):
        marker = f"querytoken{i}"
        query = "&".join(f"{k}={v}" for k, v in {**HELLO, "DataInputs": f"name={marker}"}.items())
        status, text = raw_get(f"{env.nginx}?{query}&{name}={compute_token}")
        assert status == 200, support.redact(text[:300])
        assert f"Hello {marker}" in text
        lines = emu_request_lines(env, marker)
        assert len(lines) == 1, lines
        # A boolean, so that pytest does not print the token in a failure.
        leaked = compute_token in lines[0] or "token" in lines[0].replace(marker, "")
        assert not leaked, support.redact(lines[0])
    # Spellings in other letter cases are no token to twitcher, but one sent beside a
    # good bearer header would pass the check and ride along in the query nginx
    # forwards: they go the long way too, and are kept from the backend.
    for i, name in enumerate(["ACCESS_TOKEN", "%41ccess_token", "access%5FTOKEN"]):
        marker = f"uppertoken{i}"
        query = "&".join(f"{k}={v}" for k, v in {**HELLO, "DataInputs": f"name={marker}"}.items())
        status, text = raw_get(f"{env.nginx}?{query}&{name}={compute_token}", bearer(compute_token))
        assert status == 200, support.redact(text[:300])
        lines = emu_request_lines(env, marker)
        assert len(lines) == 1, lines
        leaked = compute_token in lines[0] or "token" in lines[0].lower().replace(marker, "")
        assert not leaked, support.redact(lines[0])


EXECUTE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
    xmlns:ows="http://www.opengis.net/ows/1.1">
  <ows:Identifier>hello</ows:Identifier>
  <wps:DataInputs><wps:Input><ows:Identifier>name</ows:Identifier>
    <wps:Data><wps:LiteralData>posted</wps:LiteralData></wps:Data></wps:Input></wps:DataInputs>
</wps:Execute>"""


def test_a_post_body_is_not_let_through_on_its_querys_word(env, compute_token):
    # PyWPS reads the body of every POST. The auth subrequest is a bodiless GET with this
    # query; X-Original-Method tells twitcher the body it cannot see is there.
    url = env.nginx + "?service=WPS&request=GetCapabilities"
    xml = {"Content-Type": "text/xml"}
    r = requests.post(url, data=EXECUTE_XML, headers=xml, timeout=30)
    assert r.status_code == 401, r.text[:300]
    # A client's own header claiming GET changes nothing: nginx sets it.
    r = requests.post(url, data=EXECUTE_XML, headers={**xml, "X-Original-Method": "GET"}, timeout=30)
    assert r.status_code == 401, r.text[:300]
    r = requests.post(url, data=EXECUTE_XML, headers={**xml, **bearer(compute_token)}, timeout=30)
    assert r.status_code == 200, support.redact(r.text[:300])
    assert "Hello posted" in r.text


def test_a_get_with_a_body_needs_a_token(env):
    # PyWPS ignores it, but another backend may not: nginx tags the method.
    url = env.nginx + "?service=WPS&request=GetCapabilities"
    r = requests.get(url, data=EXECUTE_XML, headers={"Content-Type": "text/xml"}, timeout=30)
    assert r.status_code == 401, r.text[:300]


def test_twitcher_judges_the_path_as_sent_not_as_nginx_decoded_it(env, compute_token):
    # Decoded, this path holds a public query; as sent, it is a path below the service,
    # which is data and needs a token, whatever the backend makes of it.
    url = env.nginx + "/%3Fservice=WPS%26request=GetCapabilities"
    r = requests.get(url, timeout=30)
    assert r.status_code == 401, r.text[:300]
    r = requests.get(url, headers=bearer(compute_token), timeout=30)
    # Emu's own answer: there is no such operation below its URL.
    assert r.status_code == 400, r.text[:300]
    assert "ows:ExceptionReport" in r.text, r.text[:300]


def test_outputs_below_the_service_need_a_token(env, compute_token):
    # An output file of Emu, under /wps/outputs: the verify request carries the tail.
    chomsky = {
        **HELLO,
        "identifier": "chomsky",
        "DataInputs": "times=1",
        "ResponseDocument": "output=@asReference=true",
    }
    r = requests.get(env.nginx, params=chomsky, headers=bearer(compute_token), timeout=60)
    assert r.status_code == 200, support.redact(r.text[:300])
    refs = re.findall(r'href="([^"]*/wps/outputs/[^"]+)"', r.text)
    assert refs, r.text[:1000]
    url = env.nginx + refs[0][refs[0].index("/wps/outputs/") + len("/wps") :]
    assert requests.get(url, timeout=30).status_code == 401
    ok = requests.get(url, headers=bearer(compute_token), timeout=30)
    assert ok.status_code == 200
    assert len(ok.text) > 20


def test_verify_answers_json(env, compute_token, register_token):
    """What nginx reads: the status, and a JSON body for anyone who looks."""
    cases = [
        ({}, 401, False),
        (bearer(register_token), 403, False),
        (bearer(compute_token), 200, True),
    ]
    for headers, status, access in cases:
        r = requests.get(env.verify("emu"), params=HELLO, headers=headers, timeout=30)
        assert r.status_code == status, r.text[:300]
        body = r.json()
        assert body["access"] is access
        assert isinstance(body["description"], str) and body["description"]
    caps = requests.get(env.verify("emu"), params={"service": "WPS", "request": "GetCapabilities"}, timeout=30)
    assert (caps.status_code, caps.json()["access"]) == (200, True)


def assert_ows_exception(r, status, code=None):
    assert r.status_code == status, r.text[:300]
    assert r.headers.get("Content-Type", "").startswith("text/xml"), r.headers
    assert "<ExceptionReport" in r.text, r.text[:300]
    if code:
        assert f'exceptionCode="{code}"' in r.text, r.text[:300]


def test_refusals_are_twitchers_own_ows_exception_reports(env, register_token):
    # Not nginx's HTML pages: the same status, challenge and ExceptionReport as /ows/proxy.
    r = requests.get(env.nginx, params=HELLO, timeout=30)
    assert_ows_exception(r, 401, "NoApplicableCode")
    # One challenge: twitcher's, not also the one nginx took from the check.
    assert r.raw.headers.getlist("WWW-Authenticate") == [
        'Bearer realm="twitcher", error="invalid_token", '
        'error_description="no access token was given"'
    ], r.headers
    r = requests.get(env.nginx, params=HELLO, headers=bearer(register_token), timeout=30)
    assert_ows_exception(r, 403)
    challenges = r.raw.headers.getlist("WWW-Authenticate")
    assert len(challenges) == 1 and 'error="insufficient_scope"' in challenges[0], r.headers


def test_bad_requests_get_twitchers_status_not_nginx_500(env):
    # auth_request turns any status but 2xx, 401 and 403 into a 500 of nginx's own.
    r = requests.get(env.nginx, params={"service": "WPS"}, timeout=30)
    assert_ows_exception(r, 400, "MissingParameterValue")
    assert 'locator="request"' in r.text, r.text[:300]
    r = requests.get(env.nginx, params={"service": "WPS", "request": "Frobnicate"}, timeout=30)
    assert_ows_exception(r, 501, "OperationNotSupported")
    # A path nginx normalised maps to /.., which twitcher refuses.
    caps = {"service": "WPS", "request": "GetCapabilities"}
    r = requests.get(env.nginx.replace("/wps", "//wps"), params=caps, timeout=30)
    assert_ows_exception(r, 400)


CAPABILITIES_XML = """<?xml version="1.0" encoding="UTF-8"?>
<wps:GetCapabilities service="WPS" xmlns:wps="http://www.opengis.net/wps/1.0.0"
    xmlns:ows="http://www.opengis.net/ows/1.1"/>"""


def test_a_public_operation_posted_passes_through_twitcher(env):
    # The check sees no body, so it asks for a token; /ows/proxy reads the body, finds a
    # GetCapabilities, and forwards it: the body survives nginx's redirect to it.
    xml = {"Content-Type": "text/xml"}
    r = requests.post(env.nginx, data=CAPABILITIES_XML, headers=xml, timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert "wps:Capabilities" in r.text, r.text[:300]
    assert "WWW-Authenticate" not in r.headers, r.headers
    assert "X-Request-Id" in r.headers, r.headers
    # Its URLs are the service's public URL, nginx's, as on the direct way.
    assert f'href="{env.nginx}' in r.text, r.text[:1000]
    assert "/ows/proxy/" not in r.text and env.emu_origin not in r.text, r.text[:1000]


def test_a_form_body_goes_through_twitcher(env, compute_token):
    # It may hold a token, which nginx would hand to Emu with the body: /ows/proxy
    # forwards the form without it.
    form = {"service": "WPS", "request": "GetCapabilities", "access_token": compute_token}
    r = requests.post(env.nginx, data=form, headers=bearer(compute_token), timeout=30)
    assert "X-Request-Id" in r.headers, (r.status_code, r.headers)


def curl_h2(url, *args, body=None):
    """(status, body) of a cleartext HTTP/2 request by curl; a body from stdin goes
    with no Content-Length, as HTTP/2 allows."""
    out = subprocess.run(
        ["curl", "-sS", "--http2-prior-knowledge", "-o", "-", "-w", "\n%{http_code} %{http_version}",
         *args, url],
        input=body, capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    text, _, status = out.rpartition("\n")
    code, version = status.split()
    assert version == "2", status
    return int(code), text


def test_over_http2_a_get_without_content_length_may_have_a_body(env):
    # Over HTTP/2 a body needs no Content-Length: a GET with a public query and an
    # Execute body (which a backend that reads GET bodies would run) is not judged by
    # its query alone.
    caps = f"{env.nginx_h2}?service=WPS&request=GetCapabilities"
    status, text = curl_h2(caps, "-X", "GET", "-T", "-", "-H", "Content-Type: text/xml",
                           body=EXECUTE_XML)
    assert status == 401, text[:300]
    # Without a body the same GET passes, through twitcher.
    status, text = curl_h2(caps)
    assert status == 200 and "wps:Capabilities" in text, text[:300]
