//! The OWS proxy and verify endpoints over real HTTP, in front of a WPS stand-in:
//! the access policy, OWS parsing errors, forwarding, URL rewriting, streaming, and
//! backend failures.

mod common;

use std::io::Read;
use std::time::Duration;

use common::backend::{Backend, FNV_START, Pattern, fnv, pattern};
use common::*;

struct Setup {
    server: Server,
    backend: Backend,
    /// A token with scope compute, and one with only register.
    compute: String,
    register_only: String,
}

fn setup_with(launch: Launch) -> Setup {
    let backend = Backend::start();
    let server = launch.start();
    register(&server, "emu", &backend.url, "WPS", "token");
    let (id, secret) = new_client(&server, "compute register");
    let compute = client_token(&server, &id, &secret, "compute");
    let register_only = client_token(&server, &id, &secret, "register");
    Setup {
        server,
        backend,
        compute,
        register_only,
    }
}

fn setup() -> Setup {
    setup_with(Launch::default())
}

impl Setup {
    fn proxy(&self, rest: &str) -> String {
        format!("{}/ows/proxy/{rest}", self.server.url)
    }

    fn verify(&self, rest: &str) -> String {
        format!("{}/ows/verify/{rest}", self.server.url)
    }

    fn public_url(&self) -> String {
        format!("{}/ows/proxy/emu", self.server.url)
    }
}

const EXECUTE: &str =
    "emu?service=WPS&version=1.0.0&request=Execute&identifier=hello&DataInputs=name=tux";
const GETCAPS: &str = "emu?service=WPS&request=GetCapabilities";

/// An OWS ExceptionReport with this code and locator.
fn assert_exception(r: &Resp, status: u16, code: &str, locator: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(
        r.header("Content-Type").unwrap().starts_with("text/xml"),
        "{:?}",
        r.header("Content-Type")
    );
    let t = r.text();
    assert!(t.contains("<ExceptionReport version=\"1.0.0\""), "{t}");
    assert!(
        t.contains(&format!("exceptionCode=\"{code}\" locator=\"{locator}\"")),
        "{t}"
    );
}

#[test]
fn capabilities_are_public_and_point_at_the_proxy() {
    let s = setup();
    let r = get(&s.proxy(GETCAPS), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("text/xml"));
    let t = r.text();
    assert!(
        t.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- PyWPS 4.6.0 -->"),
        "{t}"
    );
    assert!(
        t.contains(&format!("<ows:Get xlink:href=\"{}\"/>", s.public_url())),
        "{t}"
    );
    assert!(!t.contains(&s.backend.url), "backend URL leaked: {t}");
    let seen = s.backend.last();
    assert_eq!(seen.path, "/wps");
    assert_eq!(seen.query, "service=WPS&request=GetCapabilities");
    // DescribeProcess is public too; parameter names in any case.
    let r = get(
        &s.proxy("emu?SERVICE=wps&Request=DescribeProcess&VERSION=1.0.0&identifier=hello"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&s.public_url()));
}

#[test]
fn execute_needs_a_token_with_scope_compute() {
    let s = setup();
    // Each refusal says why: the original's words first, then the reason, which the
    // challenge carries too (RFC 6750's error_description).
    let why = |r: &Resp, reason: &str| {
        let t = r.text();
        assert!(
            t.contains(&format!(
                "<ExceptionText>Access to service is forbidden.</ExceptionText>\n        \
                 <ExceptionText>{reason}</ExceptionText>"
            )),
            "{t}"
        );
        assert!(
            r.header("WWW-Authenticate")
                .unwrap()
                .ends_with(&format!(", error_description=\"{reason}\"")),
            "{:?}",
            r.header("WWW-Authenticate")
        );
    };
    let r = get(&s.proxy(EXECUTE), None);
    assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    assert!(
        r.header("WWW-Authenticate")
            .unwrap()
            .starts_with("Bearer realm=\"twitcher\", error=\"invalid_token\", ")
    );
    why(&r, "no access token was given");
    let r = get(&s.proxy(EXECUTE), Some("Bearer not.a.token"));
    assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    why(&r, "the access token was refused: malformed");
    let r = get(&s.proxy(EXECUTE), Some(&bearer(&s.register_only)));
    assert_exception(&r, 403, "NoApplicableCode", "AccessForbidden");
    assert!(r.header("WWW-Authenticate").unwrap().starts_with(
        "Bearer realm=\"twitcher\", error=\"insufficient_scope\", scope=\"compute\", "
    ));
    why(&r, "the access token lacks the scope compute");
    // Only `access_token` is the token (RFC 6750); other spellings are kept from the
    // backend all the same.
    let upper = format!("{EXECUTE}&ACCESS_TOKEN={}", s.compute);
    why(&get(&s.proxy(&upper), None), "no access token was given");
    assert_eq!(
        s.backend.count(),
        0,
        "refused requests never reach the backend"
    );

    let r = get(&s.proxy(EXECUTE), Some(&bearer(&s.compute)));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("text/xml; charset=utf-8"));
    let t = r.text();
    let public = s.public_url();
    assert!(
        t.contains(&format!("statusLocation=\"{public}/outputs/job-1.xml\"")),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "serviceInstance=\"{public}?request=GetCapabilities&amp;service=WPS\""
        )),
        "{t}"
    );
    let seen = s.backend.last();
    assert_eq!(
        seen.header("Authorization"),
        None,
        "the token must not reach the backend"
    );
    assert_eq!(seen.header("X-Forwarded-For"), Some("127.0.0.1"));
    assert_eq!(seen.header("X-Forwarded-Proto"), Some("http"));

    // A header value in UTF-8, as an SSO front may set, goes on as it came.
    let auth = bearer(&s.compute);
    let with_name = [
        ("Authorization", auth.as_str()),
        ("X-User-Name", "José Müller"),
    ];
    let r = request_with("GET", &s.proxy(EXECUTE), &with_name, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.backend.last().header("X-User-Name"), Some("José Müller"));

    // The token as a query parameter works, and is not passed on.
    let r = get(
        &s.proxy(&format!("{EXECUTE}&access_token={}", s.compute)),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = s.backend.last();
    assert!(!seen.query.contains("access_token"), "{}", seen.query);
    assert!(seen.query.contains("identifier=hello"));
}

#[test]
fn wps_status_and_results_are_not_public() {
    let s = setup();
    for op in ["GetStatus", "GetResult", "Dismiss"] {
        let q = format!("emu?service=WPS&version=2.0.0&request={op}&jobid=1");
        assert_eq!(get(&s.proxy(&q), None).status, 401, "{op}");
        assert_eq!(get(&s.verify(&q), None).status, 401, "{op}");
    }
}

#[test]
fn posted_xml_is_parsed_checked_and_streamed_unchanged() {
    let s = setup();
    let execute = r#"<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1">
  <ows:Identifier>hello</ows:Identifier>
  <wps:DataInputs><wps:Input><ows:Identifier>name</ows:Identifier><wps:Data><wps:LiteralData>tux &amp; co</wps:LiteralData></wps:Data></wps:Input></wps:DataInputs>
</wps:Execute>"#;
    let xml_ct = [("Content-Type", "text/xml")];
    let r = request_with("POST", &s.proxy("emu"), &xml_ct, Some(execute.as_bytes()));
    assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    let auth = bearer(&s.compute);
    let with_token = [
        ("Content-Type", "text/xml"),
        ("Authorization", auth.as_str()),
    ];
    let r = request_with(
        "POST",
        &s.proxy("emu"),
        &with_token,
        Some(execute.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&s.public_url()));
    let seen = s.backend.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.body,
        execute.as_bytes(),
        "the body reaches the backend byte for byte"
    );

    // A capabilities request by POST is public, also without a Content-Type.
    let caps = r#"<GetCapabilities service="WPS" acceptVersions="1.0.0"/>"#;
    let r = request("POST", &s.proxy("emu"), None, Some(caps.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());

    let before = s.backend.count();
    let deep = format!(
        "<Execute service=\"WPS\" version=\"1.0.0\">{}{}</Execute>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    for (bad, what) in [
        (
            r#"<!DOCTYPE x [<!ENTITY e "boom">]><Execute service="WPS" version="1.0.0">&e;</Execute>"#,
            "DTD",
        ),
        (
            "<Execute service=\"WPS\" version=\"1.0.0\">&e;</Execute>",
            "undefined entity",
        ),
        (deep.as_str(), "nesting"),
        (
            "<Execute service=\"WPS\" version=\"1.0.0\"><a></Execute>",
            "malformed",
        ),
        ("not xml at all", "not XML"),
    ] {
        let r = request_with("POST", &s.proxy("emu"), &with_token, Some(bad.as_bytes()));
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert!(r.text().contains("ExceptionReport"), "{what}");
    }
    // The refusal of the DTD and of a bad root came before anything was sent; the
    // others were cut off on the way, so the backend saw no complete request.
    for seen in &s.backend.requests()[before..] {
        assert_ne!(
            seen.body_len,
            deep.len() as u64,
            "a refused body arrived whole"
        );
    }

    let r = request_with(
        "POST",
        &s.proxy("emu"),
        &with_token,
        Some(b"<Frobnicate service=\"WPS\" version=\"1.0.0\"/>"),
    );
    assert_exception(&r, 501, "OperationNotSupported", "request");
}

#[test]
fn bad_ows_parameters_get_exception_reports() {
    let s = setup();
    let cases = [
        (
            "emu?service=WFS&request=GetCapabilities",
            400,
            "InvalidParameterValue",
            "service",
        ),
        (
            "emu?service=ATM&request=GetCapabilities",
            400,
            "InvalidParameterValue",
            "service",
        ),
        (
            "emu?service=WPS&request=Foo",
            501,
            "OperationNotSupported",
            "request",
        ),
        ("emu?service=WPS", 400, "MissingParameterValue", "request"),
        (
            "emu?service=WPS&request=DescribeProcess&identifier=hello",
            400,
            "MissingParameterValue",
            "version",
        ),
        (
            "emu?service=WPS&request=Execute&version=3.0.0",
            400,
            "InvalidParameterValue",
            "version",
        ),
        (
            "emu?service=WPS&request=GetCapabilities&REQUEST=Execute",
            400,
            "InvalidParameterValue",
            "request",
        ),
        // `REQUEſT` is `REQUEST` to Java's toUpperCase (GeoServer's parameter map).
        (
            "emu?service=WPS&request=GetCapabilities&REQUE%C5%BFT=Execute",
            400,
            "InvalidParameterValue",
            "request",
        ),
        ("emu", 401, "NoApplicableCode", "AccessForbidden"),
    ];
    for (q, status, code, locator) in cases {
        assert_exception(&get(&s.proxy(q), None), status, code, locator);
    }
    // Without `service`, the registered type stands in, but a public operation must
    // name its service: MapServer renders maps for a request without one.
    let r = get(&s.proxy("emu?request=GetCapabilities"), None);
    assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    let r = get(
        &s.proxy("emu?request=GetCapabilities"),
        Some(&bearer(&s.compute)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.backend.count(), 1);
    let r = get(&s.proxy("emu?service=%20WPS&request=GetCapabilities"), None);
    assert_exception(&r, 400, "InvalidParameterValue", "service");
}

#[test]
fn errors_quote_the_start_of_a_long_value_only() {
    let s = setup();
    let long = "Foo".to_string() + &"x".repeat(1 << 20);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let xml = [("Content-Type", "text/xml")];
    let answers = [
        request_with(
            "POST",
            &s.proxy("emu"),
            &form,
            Some(format!("service=WPS&request={long}").as_bytes()),
        ),
        request_with(
            "POST",
            &s.proxy("emu"),
            &xml,
            Some(
                format!(r#"<wps:{long} xmlns:wps="http://www.opengis.net/wps/1.0.0"/>"#).as_bytes(),
            ),
        ),
        get(
            &s.proxy(&format!("emu?service=WPS&request={}", &long[..4000])),
            None,
        ),
    ];
    for r in answers {
        assert_exception(&r, 501, "OperationNotSupported", "request");
        let quoted = format!("request foo{}… is not supported", "x".repeat(61));
        assert!(
            r.text().contains(&quoted),
            "{}",
            &r.text()[..r.text().len().min(2000)]
        );
        assert!(r.text().len() < 1024, "{} bytes", r.text().len());
    }
}

#[test]
fn unknown_services_and_switches() {
    let s = setup();
    let r = get(&s.proxy("nosuch?service=WPS&request=GetCapabilities"), None);
    assert_exception(&r, 404, "NoApplicableCode", "NotAcceptable");
    assert!(r.text().contains("Could not find service: nosuch"));
    let r = get(
        &s.verify("nosuch?service=WPS&request=GetCapabilities"),
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["access"], false);
    // /ows/proxy without a name is no route.
    assert_eq!(get(&s.proxy(""), None).status, 404);

    let open = Launch::default()
        .env("TWITCHER_OWS_SECURITY", "false")
        .start();
    assert!(open.log().contains("ows_security = false"));
    let backend = Backend::start();
    register(&open, "emu", &backend.url, "WPS", "token");
    let r = get(&format!("{}/ows/proxy/{EXECUTE}", open.url), None);
    assert_eq!(
        r.status,
        200,
        "ows_security=false lets everything through: {}",
        r.text()
    );

    let off = Launch::default().env("TWITCHER_OWS_PROXY", "false").start();
    let r = get(&format!("{}/ows/proxy/{GETCAPS}", off.url), None);
    assert_eq!(r.status, 404);
    assert!(
        r.json()["errors"].is_array(),
        "no proxy route: the JSON 404"
    );
    off.wait_log("status=404");

    let moved = Launch::default()
        .env("TWITCHER_OWS_PROXY_PROTECTED_PATH", "/twitcher/ows")
        .start();
    register(&moved, "emu", &backend.url, "WPS", "token");
    let r = get(&format!("{}/twitcher/ows/proxy/{GETCAPS}", moved.url), None);
    assert_eq!(r.status, 200);
    assert!(
        r.text()
            .contains(&format!("{}/twitcher/ows/proxy/emu", moved.url))
    );
}

#[test]
fn verify_decides_with_the_same_codes_and_forwards_nothing() {
    let s = setup();
    let r = get(&s.verify(EXECUTE), None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        serde_json::json!({
            "description": "Access to service is forbidden.",
            "access": false,
            "reason": "no access token was given",
        })
    );
    assert!(r.header("WWW-Authenticate").unwrap().starts_with("Bearer "));
    assert_eq!(
        get(&s.verify(EXECUTE), Some(&bearer(&s.register_only))).status,
        403
    );
    let r = get(&s.verify(EXECUTE), Some(&bearer(&s.compute)));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"description": "Access to service is allowed.", "access": true})
    );
    let r = get(
        &s.verify(&format!("{EXECUTE}&access_token={}", s.compute)),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(get(&s.verify(GETCAPS), None).status, 200);
    assert_eq!(get(&s.verify("emu/outputs/job-1.xml"), None).status, 401);
    assert_eq!(
        get(
            &s.verify("emu/outputs/job-1.xml"),
            Some(&bearer(&s.compute))
        )
        .status,
        200
    );
    assert_eq!(
        get(&s.verify("emu?service=WPS&request=Foo"), None).status,
        501
    );
    assert_eq!(s.backend.count(), 0, "verify never forwards");
}

/// nginx's auth_request asks with a bodiless GET whatever the client sent, so a POST
/// with a public operation in its query and an Execute in its body passed; the front
/// proxy's word on the method counts, and can only make the check stricter.
#[test]
fn verify_judges_the_method_the_front_proxy_names() {
    let s = setup();
    let verify = |headers: &[(&str, &str)]| request_with("GET", &s.verify(GETCAPS), headers, None);
    assert_eq!(verify(&[]).status, 200);
    assert_eq!(verify(&[("X-Original-Method", "GET")]).status, 200);
    assert_eq!(verify(&[("X-Forwarded-Method", "HEAD")]).status, 200);
    // A CORS preflight of a public operation, as through /ows/proxy.
    assert_eq!(verify(&[("X-Original-Method", "OPTIONS")]).status, 200);
    for headers in [
        &[("X-Original-Method", "POST")][..],
        // The README's nginx map tags a GET that came with a body.
        &[("X-Original-Method", "GET with a body")],
        &[("X-Forwarded-Method", "PUT")],
        &[("X-Original-Method", "get")],
        &[("X-Original-Method", "")],
        // A client's own header claiming GET beside the front proxy's POST.
        &[("X-Original-Method", "GET"), ("X-Original-Method", "POST")],
        &[("X-Original-Method", "POST"), ("X-Forwarded-Method", "GET")],
    ] {
        let r = verify(headers);
        assert_eq!(r.status, 401, "{headers:?}: {}", r.text());
        assert_eq!(r.json()["access"], false);
    }
    let mut with_token = vec![("X-Original-Method", "POST")];
    let auth = bearer(&s.compute);
    with_token.push(("Authorization", &auth));
    assert_eq!(verify(&with_token).status, 200);

    // A body verify reads itself is judged, but a write named beside it is still a write.
    let caps = br#"<GetCapabilities service="WPS" xmlns="http://www.opengis.net/wps/1.0.0"/>"#;
    let post = |headers: &[(&str, &str)]| {
        let mut all = vec![("Content-Type", "text/xml")];
        all.extend_from_slice(headers);
        request_with("POST", &s.verify("emu"), &all, Some(caps)).status
    };
    assert_eq!(post(&[]), 200);
    assert_eq!(post(&[("X-Original-Method", "POST")]), 200);
    assert_eq!(post(&[("X-Original-Method", "PUT")]), 401);
    assert_eq!(post(&[("X-Forwarded-Method", "DELETE")]), 401);
    assert_eq!(s.backend.count(), 0, "verify never forwards");
}

#[test]
fn paths_below_the_service_are_data_and_need_a_token() {
    let s = setup();
    let status = s.proxy("emu/outputs/job-1.xml");
    assert_exception(
        &get(&status, None),
        401,
        "NoApplicableCode",
        "AccessForbidden",
    );
    // Also a "public" operation asked of a path below the service: what answers there
    // may be a file server that ignores the query.
    assert_eq!(
        get(
            &s.proxy("emu/outputs/result.txt?service=WPS&request=GetCapabilities"),
            None
        )
        .status,
        401
    );
    let r = get(&status, Some(&bearer(&s.compute)));
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    let public = s.public_url();
    assert!(
        t.contains(&format!("href=\"{public}/outputs/result.txt\"")),
        "status documents are rewritten too: {t}"
    );
    assert_eq!(s.backend.last().path, "/wps/outputs/job-1.xml");
    let r = get(
        &s.proxy("emu/outputs/result.txt"),
        Some(&bearer(&s.compute)),
    );
    assert_eq!((r.status, r.text().as_str()), (200, "Hello tux"));
    // HEAD is forwarded as HEAD.
    let r = request(
        "HEAD",
        &s.proxy("emu/outputs/result.txt"),
        Some(&bearer(&s.compute)),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.backend.last().method, "HEAD");
    // A redirect from the backend points through the proxy.
    let r = get(&s.proxy("emu/redirect"), Some(&bearer(&s.compute)));
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("Location"),
        Some(format!("{public}/outputs/result.txt").as_str())
    );
    // Only ASCII goes into a header: a public URL with an internationalised host is
    // percent-encoded there (WHATWG URL parsers decode it).
    let body = serde_json::json!({"name": "idn", "url": s.backend.url, "purl": "http://bücher.example/wps", "auth": "public"});
    register_json(&s.server, &body);
    let r = get(&s.proxy("idn/redirect"), None);
    assert_eq!(
        r.header("Location"),
        Some("http://b%C3%BCcher.example/wps/outputs/result.txt")
    );
    // Percent-encoding in the extra path reaches the backend as sent.
    let _ = get(
        &s.proxy("emu/outputs/a%20b%2Fc.txt"),
        Some(&bearer(&s.compute)),
    );
    assert_eq!(s.backend.last().path, "/wps/outputs/a%20b%2Fc.txt");

    // A service URL registered with a space (and its scheme in capitals) is stored
    // percent-encoded, and reached.
    let spaced = format!("HTTP{} b", s.backend.url.strip_prefix("http").unwrap());
    register(&s.server, "spaced", &spaced, "WPS", "public");
    let r = get(&s.proxy("spaced/outputs/result.txt"), None);
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, "no such thing"),
        "the backend's"
    );
    assert_eq!(s.backend.last().path, "/wps%20b/outputs/result.txt");

    // On a public service, data needs nothing.
    register(&s.server, "open", &s.backend.url, "WPS", "public");
    let r = get(&s.proxy("open/outputs/result.txt"), None);
    assert_eq!(r.status, 200);
    let r = get(
        &s.proxy("open?service=WPS&version=1.0.0&request=Execute&identifier=x"),
        None,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn urls_of_other_registered_services_point_through_the_proxy_too() {
    let s = setup();
    let beside = "emu?service=WPS&version=1.0.0&request=Execute&identifier=beside";
    let origin = s.backend.url.trim_end_matches("/wps").to_string();
    // Outputs beside the service URL, with nothing registered for them: left alone.
    let t = get(&s.proxy(beside), Some(&bearer(&s.compute))).text();
    assert!(
        t.contains(&format!("statusLocation=\"{origin}/outputs/job-2.xml\"")),
        "{t}"
    );
    // Registered as a service of their own, they are reached through it.
    register(
        &s.server,
        "emu_outputs",
        &format!("{origin}/outputs"),
        "WPS",
        "token",
    );
    let outputs = format!("{}/ows/proxy/emu_outputs", s.server.url);
    let t = get(&s.proxy(beside), Some(&bearer(&s.compute))).text();
    assert!(
        t.contains(&format!("statusLocation=\"{outputs}/job-2.xml\"")),
        "{t}"
    );
    assert!(
        t.contains(&format!("serviceInstance=\"{}?request=", s.public_url())),
        "{t}"
    );
    let status = format!("{outputs}/job-2.xml");
    assert_eq!(get(&status, None).status, 401, "still behind a token");
    let r = get(&status, Some(&bearer(&s.compute)));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.backend.last().path, "/outputs/job-2.xml");
    assert!(
        r.text()
            .contains(&format!("href=\"{outputs}/result-2.txt\"")),
        "{}",
        r.text()
    );
    let r = get(
        &format!("{outputs}/result-2.txt"),
        Some(&bearer(&s.compute)),
    );
    assert_eq!((r.status, r.text().as_str()), (200, "Hello beside"));
}

/// Backends cut a fragment off the target (ureq here, nginx's $args, gunicorn), so what
/// follows a `#` would be judged and never seen: a named GetCapabilities there let
/// MapServer draw a map for `?mapext=...`.
#[test]
fn a_fragment_in_the_target_is_refused() {
    let s = setup();
    for route in ["proxy", "verify"] {
        for target in [
            "emu?mapext=-5+-5+5+5#&service=WPS&request=GetCapabilities",
            "emu?service=WPS&request=GetCapabilities#",
            "emu/outputs/x#y",
        ] {
            let head = format!(
                "GET /ows/{route}/{target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let out = raw(s.server.port, head.as_bytes(), Duration::from_secs(10));
            assert!(out.starts_with("HTTP/1.1 400"), "{route} {target}: {out}");
            assert!(out.contains("fragment"), "{route} {target}: {out}");
        }
    }
    assert_eq!(s.backend.count(), 0);
    // An encoded `#` in a value is a character like any other, and reaches the backend
    // as sent (in a name it is refused: see `what_backends_read_beside_the_judged_parameters_needs_a_token`).
    let query = "service=WPS&request=GetCapabilities&bgcolor=%23FFFFFF";
    assert_eq!(get(&s.verify(&format!("emu?{query}")), None).status, 200);
    assert_eq!(get(&s.proxy(&format!("emu?{query}")), None).status, 200);
    assert_eq!(s.backend.last().query, query);
    let r = get(&s.proxy("emu/outputs/x%23y"), Some(&bearer(&s.compute)));
    assert_ne!(r.status, 400, "{}", r.text());
    assert_eq!(s.backend.last().path, "/wps/outputs/x%23y");
}

/// The OGC API a backend serves beside its OWS (MapServer's) links its pages in JSON
/// and HTML, and in Link headers: those links lead through the proxy too, or a client that follows them
/// (GDAL's OAPIF driver) would take its token straight to the backend.
#[test]
fn json_and_html_pages_link_through_the_proxy() {
    let s = setup();
    let token = bearer(&s.compute);
    let public = s.public_url();
    let r = get(&s.proxy("emu/ogcapi/collections"), Some(&token));
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(
        t.contains(&format!(
            r#""href": "{public}/ogcapi/collections/pts/items?f=json&limit=10""#
        )),
        "{t}"
    );
    let slashed = |u: &str| u.replace('/', r"\/");
    assert!(
        t.contains(&format!(
            r#""href": "{}""#,
            slashed(&format!("{public}/ogcapi/collections?f=json"))
        )),
        "{t}"
    );
    assert!(!t.contains(&s.backend.url), "{t}");
    assert!(!t.contains(&slashed(&s.backend.url)), "{t}");
    // So do the links in a Link header (RFC 8288), as OGC API servers send for paging.
    assert_eq!(
        r.header("Link"),
        Some(
            format!(r#"<{public}/ogcapi/collections?f=html>; rel="alternate"; type="text/html""#)
                .as_str()
        )
    );
    let r = get(&s.proxy("emu/ogcapi"), Some(&token));
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(
        t.contains(&format!(
            r#"<a href="{public}/ogcapi/collections?f=html&amp;lang=en">"#
        )),
        "{t}"
    );
    assert!(!t.contains(&s.backend.url), "{t}");
}

/// A browser app from an origin in `twitcher.proxy.cors_origins` can call the proxy:
/// its preflights, which never carry a token, are answered here (a backend that
/// ignores the method would serve them as GETs), and every answer, refusals included,
/// is readable by it, with one allow-origin header. Other origins get what they got
/// without CORS.
#[test]
fn browser_apps_from_allowed_origins_get_cors_answers() {
    let s = setup_with(Launch::default().env(
        "TWITCHER_PROXY_CORS_ORIGINS",
        "https://app.example, https://other.example:8443",
    ));
    let url = s.proxy("emu/ogcapi/collections");
    let app = ("Origin", "https://app.example");
    let seen = s.backend.count();
    let pre = request_with(
        "OPTIONS",
        &url,
        &[
            app,
            ("Access-Control-Request-Method", "GET"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        None,
    );
    assert_eq!(pre.status, 204, "{}", pre.text());
    assert_eq!(pre.header("Content-Length"), None);
    assert_eq!(
        pre.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert_eq!(
        pre.header("Access-Control-Allow-Headers"),
        Some("authorization, content-type")
    );
    assert!(
        pre.header("Access-Control-Allow-Methods")
            .unwrap()
            .contains("POST")
    );
    assert_eq!(s.backend.count(), seen, "a preflight goes no further");

    let refused = request_with("GET", &url, &[app], None);
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert!(
        refused
            .header("Access-Control-Expose-Headers")
            .unwrap()
            .contains("WWW-Authenticate")
    );
    let token = bearer(&s.compute);
    let ok = request_with("GET", &url, &[app, ("Authorization", &token)], None);
    assert_eq!(ok.status, 200);
    let allow: Vec<_> = ok
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Access-Control-Allow-Origin"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(allow, ["https://app.example"], "the backend's * gave way");

    for origin in ["https://evil.example", "https://app.example.evil"] {
        let pre = request_with(
            "OPTIONS",
            &url,
            &[("Origin", origin), ("Access-Control-Request-Method", "GET")],
            None,
        );
        assert_eq!(pre.status, 401, "{origin}");
        assert_eq!(pre.header("Access-Control-Allow-Origin"), None, "{origin}");
    }
}

/// Without `twitcher.proxy.cors_origins`, a preflight is a request like any other.
#[test]
fn without_cors_origins_a_preflight_needs_a_token() {
    let s = setup();
    let pre = request_with(
        "OPTIONS",
        &s.proxy("emu/ogcapi/collections"),
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
        None,
    );
    assert_eq!(pre.status, 401);
    assert_eq!(pre.header("Access-Control-Allow-Origin"), None);
}

/// A part of a document (206) goes as it came: rewritten, it would no longer match its
/// Content-Range. A HEAD answer does not pass on the unrewritten length.
#[test]
fn ranges_are_not_rewritten_and_heads_give_no_stale_length() {
    let s = setup();
    let token = bearer(&s.compute);
    let whole = get(&s.proxy("emu/ogcapi/doc.json"), Some(&token));
    assert_eq!(whole.status, 200);
    assert!(whole.text().contains(&s.public_url()), "{}", whole.text());
    // All but the closing brace: the backend's URL whole inside the part.
    let direct = format!(r#"{{"href": "{}/ogcapi/doc.json"}}"#, s.backend.url);
    let end = direct.len() - 2;
    let range = format!("bytes=0-{end}");
    let part = request_with(
        "GET",
        &s.proxy("emu/ogcapi/doc.json"),
        &[("Authorization", &token), ("Range", &range)],
        None,
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.text(), direct[..=end]);
    assert_eq!(
        part.header("Content-Range"),
        Some(format!("bytes 0-{end}/{}", direct.len()).as_str())
    );
    let head = request_with(
        "HEAD",
        &s.proxy("emu/ogcapi/doc.json"),
        &[("Authorization", &token)],
        None,
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), None);
    assert_eq!(s.backend.last().method, "HEAD");
}

/// A backend's 204 goes on without a length, which RFC 9110 §8.6 forbids there.
#[test]
fn no_content_has_no_length() {
    let s = setup();
    let r = get(&s.proxy("emu/nothing"), Some(&bearer(&s.compute)));
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Content-Length"), None);
    assert_eq!(r.header("Transfer-Encoding"), None);
}

/// A document over `twitcher.proxy.rewrite_max_size` is rewritten as it streams: passed
/// on as it came, its links would lead a client and its token around the proxy.
#[test]
fn documents_over_the_rewrite_cap_are_rewritten_as_they_stream() {
    let s = setup_with(Launch::default().env("TWITCHER_PROXY_REWRITE_MAX_SIZE", "1K"));
    let count = 5000;
    let public = s.public_url();
    // With its length known, and chunked: read up to the cap first.
    for chunked in ["", "&chunked=1"] {
        let r = get(
            &s.proxy(&format!("emu/ogcapi/items?count={count}{chunked}")),
            Some(&bearer(&s.compute)),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let t = r.text();
        assert!(t.len() > 200_000, "{}", t.len());
        assert!(
            !t.contains(&s.backend.url),
            "a backend URL passed {chunked}"
        );
        for i in [0, 1, count / 2, count - 1] {
            let link = format!(r#"{{"href": "{public}/ogcapi/items?offset={i}"}}"#);
            assert!(t.contains(&link), "{link} {chunked}");
        }
        assert_eq!(t.matches(&public).count(), count, "{chunked}");
    }
}

/// MapProxy builds the URLs of its capabilities from the forwarded scheme and host with
/// its own path, a URL under this proxy's host that leads nowhere: it is rewritten as
/// the backend's registered URL is. Not under a host the client picked, which could
/// name another site's URLs (namespaces) for rewriting.
#[test]
fn urls_a_backend_builds_from_the_forwarded_headers_are_rewritten() {
    let s = setup();
    let target = "emu?service=WPS&request=GetCapabilities&urls=forwarded";
    // Twice: the second takes the rewrite made for the first's scheme and host.
    let first = get(&s.proxy(target), None).text();
    let r = get(&s.proxy(target), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), first);
    let seen = s.backend.last();
    let told = format!(
        "{}://{}/wps",
        seen.header("X-Forwarded-Proto").unwrap(),
        seen.header("X-Forwarded-Host").unwrap()
    );
    let text = r.text();
    assert!(!text.contains(&told), "{told} in {text}");
    assert_eq!(
        text.matches(&format!("xlink:href=\"{}\"", s.public_url()))
            .count(),
        3,
        "{text}"
    );
    let with_host = |target: &str, host: &str| {
        let head = format!(
            "GET /ows/proxy/{target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
        let out = raw(s.server.port, head.as_bytes(), Duration::from_secs(10));
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        out
    };
    let out = with_host(target, "front.example:8443");
    assert_eq!(
        out.matches("xlink:href=\"http://front.example:8443/wps\"")
            .count(),
        3,
        "{out}"
    );
    let out = with_host(GETCAPS, "www.opengis.net");
    assert!(
        out.contains("xmlns:wps=\"http://www.opengis.net/wps/1.0.0\""),
        "{out}"
    );
    // The purl's host is this proxy's too; the rewrite kept for one host is not
    // taken for the other, back and forth.
    let purl = "http://other.example:1234/pub";
    let body = serde_json::json!({"name": "pub", "url": s.backend.url, "purl": purl});
    register_json(&s.server, &body);
    let own = s.server.url.trim_start_matches("http://").to_string();
    let pub_target = "pub?service=WPS&request=GetCapabilities&urls=forwarded";
    for host in [own.as_str(), "other.example:1234", own.as_str()] {
        let out = with_host(pub_target, host);
        assert_eq!(
            out.matches(&format!("xlink:href=\"{purl}\"")).count(),
            3,
            "{host}: {out}"
        );
    }
}

/// MapProxy takes `GetCapabilities ` for no request it knows and draws its error as an
/// image of the size asked for: a padded `request` is not a public GetCapabilities.
#[test]
fn a_request_with_blanks_around_it_is_refused() {
    let s = setup();
    for padded in [
        "GetCapabilities%20",
        "%20GetCapabilities",
        "GetCapabilities+",
        "GetCapabilities%C2%A0",
    ] {
        let target = format!("emu?service=WPS&request={padded}&width=12000&height=12000");
        for url in [s.proxy(&target), s.verify(&target)] {
            let r = get(&url, None);
            assert_eq!(r.status, 400, "{url}: {}", r.text());
            assert!(r.text().contains("blanks around"), "{url}: {}", r.text());
        }
    }
    assert_eq!(s.backend.count(), 0);
}

/// A target in absolute form is proxied, and its host, not `Host`, is the one the
/// backend is told (RFC 9112 §3.2.2).
#[test]
fn a_target_in_absolute_form_is_proxied_under_its_own_host() {
    let s = setup();
    let head = format!(
        "GET http://front.example:8443/ows/proxy/{GETCAPS} HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"
    );
    let out = raw(s.server.port, head.as_bytes(), Duration::from_secs(10));
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let seen = s.backend.last();
    assert_eq!(
        (seen.path.as_str(), seen.query.as_str()),
        ("/wps", "service=WPS&request=GetCapabilities")
    );
    assert_eq!(seen.header("X-Forwarded-Host"), Some("front.example:8443"));
    // What a backend would build its URLs from must be a host and port (RFC 9112 §3.2).
    for head in [
        format!("GET http://user:pw@evil.example/ows/proxy/{GETCAPS} HTTP/1.1\r\nHost: x\r\n"),
        format!("GET http:///ows/proxy/{GETCAPS} HTTP/1.1\r\nHost: x\r\n"),
        format!("GET /ows/proxy/{GETCAPS} HTTP/1.1\r\nHost: a b\r\n"),
        format!("GET /ows/proxy/{GETCAPS} HTTP/1.1\r\nHost: user@evil\r\n"),
        format!("GET /ows/proxy/{GETCAPS} HTTP/1.1\r\nHost: x:99999\r\n"),
    ] {
        let out = raw(
            s.server.port,
            format!("{head}Connection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(10),
        );
        assert!(out.starts_with("HTTP/1.1 400"), "{head}: {out}");
        assert!(out.contains("ExceptionReport"), "{head}: {out}");
    }
    assert_eq!(s.backend.count(), 1);
}

#[test]
fn traversal_out_of_the_service_url_is_refused() {
    let s = setup();
    let auth = format!("Authorization: Bearer {}\r\n", s.compute);
    for path in [
        "/ows/proxy/emu/../secret",
        "/ows/proxy/emu/outputs/../../secret",
        "/ows/proxy/emu/%2e%2e/secret",
        "/ows/proxy/emu/outputs/%2E%2E%2F%2E%2E/secret",
        "/ows/proxy/emu/%252e%252e/secret",
        "/ows/proxy/emu/outputs/..%5c..%5csecret",
        // Tomcat and Jetty drop `;parameters` from a segment before resolving dots.
        "/ows/proxy/emu/..;/secret",
        "/ows/proxy/emu/outputs/..;x=1/secret",
        "/ows/proxy/emu/..%3B/secret",
        "/ows/proxy/emu/.;/secret",
        "/ows/verify/emu/../secret",
    ] {
        let answer = raw(
            s.server.port,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(10),
        );
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(
            answer.contains("locator=\"path\"") || answer.contains("\"access\":false"),
            "{path}: {answer}"
        );
    }
    assert_eq!(s.backend.count(), 0);
}

#[test]
fn backend_failures_are_502_and_504() {
    let s = setup_with(Launch::default().env("TWITCHER_PROXY_TIMEOUT", "1"));
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://127.0.0.1:{}/wps", dead.local_addr().unwrap().port());
    drop(dead);
    register(&s.server, "gone", &dead_url, "WPS", "token");
    let r = get(&s.proxy("gone?service=WPS&request=GetCapabilities"), None);
    assert_exception(&r, 502, "NoApplicableCode", "NoApplicableCode");
    assert!(
        !r.text().contains(&dead_url),
        "the backend's address stays inside"
    );
    let r = get(&s.proxy("emu/slow"), Some(&bearer(&s.compute)));
    assert_exception(&r, 504, "NoApplicableCode", "NoApplicableCode");
    s.server.wait_log("did not answer in time");

    // Silent in the middle of an XML answer (read whole for rewriting): also 504.
    let stalls = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalls_url = format!(
        "http://127.0.0.1:{}/wps",
        stalls.local_addr().unwrap().port()
    );
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let held = std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let (conn, _) = stalls.accept().unwrap();
        let mut head = std::io::BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        while head.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let mut conn = conn;
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<wps:Capabilities>")
            .unwrap();
        let _ = wait.recv_timeout(Duration::from_secs(30));
    });
    register(&s.server, "stalls", &stalls_url, "WPS", "token");
    let r = get(&s.proxy("stalls?service=WPS&request=GetCapabilities"), None);
    assert_exception(&r, 504, "NoApplicableCode", "NoApplicableCode");
    done.send(()).unwrap();
    held.join().unwrap();

    // A status that cannot be passed on: a 101 nobody asked for, or none at all.
    for (name, answer) in [
        (
            "switches",
            &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"[..],
        ),
        ("odd", &b"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n"[..]),
    ] {
        register(&s.server, name, &cut_off_backend(answer), "WPS", "public");
        let r = get(
            &s.proxy(&format!("{name}?service=WPS&request=GetCapabilities")),
            None,
        );
        assert_exception(&r, 502, "NoApplicableCode", "NoApplicableCode");
    }
}

/// A service registered at a URL that leads back to the proxy: each pass adds the
/// proxy's name to `Via` (RFC 9110 §7.6.3), so the second pass is refused (508) at once
/// instead of every worker waiting on another until the timeouts.
#[test]
fn a_service_that_leads_back_here_is_refused_as_a_loop() {
    let s = setup_with(Launch::default().env("TWITCHER_WORKERS", "2"));
    let r = get(&s.proxy(GETCAPS), None);
    assert_eq!(r.status, 200);
    let via = s.backend.last().header("via").unwrap().to_string();
    assert!(via.starts_with("1.1 twitcher-"), "{via}");

    let looped = format!("{}/ows/proxy/loop", s.server.url);
    register(&s.server, "loop", &looped, "WPS", "public");
    for _ in 0..3 {
        let r = get(&s.proxy("loop?service=WPS&request=GetCapabilities"), None);
        assert_exception(&r, 508, "NoApplicableCode", "NoApplicableCode");
    }
    s.server.wait_log("leads here");
    assert_eq!(get(&format!("{}/info", s.server.url), None).status, 200);
    // A client's own Via is kept, and names another proxy: no loop.
    let r = request_with("GET", &s.proxy(GETCAPS), &[("Via", "1.1 edge")], None);
    assert_eq!(r.status, 200);
    let via = s.backend.last().header("via").unwrap().to_string();
    assert!(via.starts_with("1.1 edge, 1.1 twitcher-"), "{via}");
}

/// With `twitcher.proxy.pass_identity` the backend learns who a token let through, under
/// oauth2-proxy's header names, and a client cannot claim an identity itself. /ows/verify
/// answers the same for nginx's `auth_request_set`, whatever the setting.
#[test]
fn who_passed_reaches_the_backend_only_from_twitcher() {
    let s = setup_with(Launch::default().env("TWITCHER_PROXY_PASS_IDENTITY", "true"));
    let (id, secret) = new_client(&s.server, "compute");
    let token = client_token(&s.server, &id, &secret, "compute");
    let claim = [
        ("X-Forwarded-User", "admin"),
        ("X-Forwarded-Scope", "compute register"),
    ];
    let execute = "emu?service=WPS&version=1.0.0&request=Execute&identifier=hello";
    let auth = bearer(&token);
    let with_token = [claim[0], claim[1], ("Authorization", auth.as_str())];
    let r = request_with("GET", &s.proxy(execute), &with_token, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = s.backend.last();
    assert_eq!(seen.header("X-Forwarded-User"), Some(id.as_str()));
    assert_eq!(seen.header("X-Forwarded-Scope"), Some("compute"));
    assert_eq!(
        seen.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-user"))
            .count(),
        1,
        "{:?}",
        seen.headers
    );
    // A public request checks no token: no identity, and the client's claim is dropped.
    let r = request_with(
        "GET",
        &s.proxy("emu?service=WPS&request=GetCapabilities"),
        &claim,
        None,
    );
    assert_eq!(r.status, 200);
    let seen = s.backend.last();
    assert_eq!(seen.header("X-Forwarded-User"), None);
    assert_eq!(seen.header("X-Forwarded-Scope"), None);

    let r = get(&s.verify(execute), Some(&auth));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Auth-Request-User"), Some(id.as_str()));
    assert_eq!(r.header("X-Auth-Request-Scope"), Some("compute"));
    let r = get(&s.verify("emu?service=WPS&request=GetCapabilities"), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Auth-Request-User"), None);

    // Off (the default), twitcher adds nothing. A client's own forwarding headers are
    // dropped all the same; a trusted front proxy's (an SSO in front) pass as they came.
    let plain = setup();
    let plain_auth = bearer(&plain.compute);
    let plain_headers = [claim[0], claim[1], ("Authorization", plain_auth.as_str())];
    let r = request_with("GET", &plain.proxy(execute), &plain_headers, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = plain.backend.last();
    assert_eq!(seen.header("X-Forwarded-User"), None);
    assert_eq!(seen.header("X-Forwarded-Scope"), None);
    let fronted = setup_with(Launch::default().env("TWITCHER_TRUSTED_PROXIES", "127.0.0.1"));
    let fronted_auth = bearer(&fronted.compute);
    let headers = [
        claim[0],
        claim[1],
        ("X-Forwarded-Prefix", "/maps"),
        ("Authorization", fronted_auth.as_str()),
    ];
    let r = request_with("GET", &fronted.proxy(execute), &headers, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = fronted.backend.last();
    assert_eq!(seen.header("X-Forwarded-User"), Some("admin"));
    assert_eq!(seen.header("X-Forwarded-Prefix"), Some("/maps"));
}

/// A backend whose host never completes the handshake (a firewall that drops packets,
/// a host gone from the network) is unreachable, 502, once the connect timeout is over;
/// 504 is for a backend that took the request and stayed silent.
#[test]
fn a_backend_that_never_completes_the_handshake_is_502() {
    use std::os::fd::AsRawFd;
    let s = setup_with(Launch::default().env("TWITCHER_PROXY_CONNECT_TIMEOUT", "1"));
    // Linux lets `listen` shrink the backlog of a listening socket: with 0, one connection
    // waits in the accept queue and, as nothing accepts it, every later SYN is dropped.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: the descriptor belongs to `silent`, alive for the whole test.
    assert_eq!(unsafe { libc::listen(silent.as_raw_fd(), 0) }, 0);
    let addr = silent.local_addr().unwrap();
    let mut queued = Vec::new();
    let full = (0..8).any(|_| {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(c) => {
                queued.push(c);
                false
            }
            Err(_) => true,
        }
    });
    assert!(full, "the accept queue did not fill");
    register(
        &s.server,
        "unanswering",
        &format!("http://{addr}/wps"),
        "WPS",
        "token",
    );
    let r = get(
        &s.proxy("unanswering?service=WPS&request=GetCapabilities"),
        None,
    );
    assert_exception(&r, 502, "NoApplicableCode", "NoApplicableCode");
    s.server
        .wait_log("no connection within the connect timeout");
}

#[test]
fn the_wps_content_type_list_applies_to_operations_only() {
    let s = setup();
    let auth = bearer(&s.compute);
    let r = get(
        &s.proxy("emu?service=WPS&version=1.0.0&request=Execute&identifier=raw"),
        Some(&auth),
    );
    assert_exception(&r, 502, "NoApplicableCode", "NoApplicableCode");
    assert!(
        r.text()
            .contains("Content type is not allowed: application/x-netcdf.")
    );
    let r = get(&s.proxy("emu/outputs/data.nc"), Some(&auth));
    assert_eq!(r.status, 200, "downloads are not checked");
    assert_eq!(r.header("Content-Type"), Some("application/x-netcdf"));
}

#[test]
fn client_certificates_count_only_from_trusted_proxies() {
    let untrusted = setup();
    register(
        &untrusted.server,
        "certsvc",
        &untrusted.backend.url,
        "WPS",
        "cert",
    );
    let exec = "certsvc?service=WPS&version=1.0.0&request=Execute&identifier=hello";
    let verified = [("X-Ssl-Client-Verify", "SUCCESS")];
    let r = request_with("GET", &untrusted.proxy(exec), &verified, None);
    assert_exception(&r, 403, "NoApplicableCode", "AccessForbidden");
    // A token does not open a cert service either.
    let auth = bearer(&untrusted.compute);
    let r = request_with(
        "GET",
        &untrusted.proxy(exec),
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 403);
    // Capabilities stay public.
    let r = get(
        &untrusted.proxy("certsvc?service=WPS&request=GetCapabilities"),
        None,
    );
    assert_eq!(r.status, 200);

    let trusted =
        setup_with(Launch::default().env("TWITCHER_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"));
    register(
        &trusted.server,
        "certsvc",
        &trusted.backend.url,
        "WPS",
        "cert",
    );
    let r = request_with("GET", &trusted.proxy(exec), &verified, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        trusted.backend.last().header("X-Ssl-Client-Verify"),
        Some("SUCCESS")
    );
    let r = request_with(
        "GET",
        &trusted.proxy(exec),
        &[("X-Ssl-Client-Verify", "FAILED:x")],
        None,
    );
    assert_eq!(r.status, 403);
    // A front that adds its verdict beside the client's would have the client's read.
    let out = raw(
        trusted.server.port,
        format!(
            "GET /ows/proxy/{exec} HTTP/1.1\r\nHost: x\r\nX-Ssl-Client-Verify: SUCCESS\r\n\
             X-Ssl-Client-Verify: FAILED\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
        Duration::from_secs(10),
    );
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
}

#[test]
fn wms_requests_may_leave_service_out() {
    let s = setup();
    register(&s.server, "maps", &s.backend.url, "WMS", "token");
    let getmap = "maps?REQUEST=GetMap&VERSION=1.3.0&LAYERS=a&CRS=EPSG:4326&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&FORMAT=image/png";
    assert_eq!(get(&s.proxy(getmap), None).status, 401);
    assert_eq!(
        get(&s.verify(getmap), Some(&bearer(&s.compute))).status,
        200
    );
    // A public operation names its service (MapServer renders maps for one that
    // does not), and a WMS document is none: the standard takes its GetCapabilities
    // by KVP, and MapServer renders maps for the document too.
    assert_eq!(
        get(&s.verify("maps?REQUEST=GetCapabilities"), None).status,
        401
    );
    assert_eq!(
        get(&s.verify("maps?SERVICE=WMS&REQUEST=GetCapabilities"), None).status,
        200
    );
    let r = request_with(
        "POST",
        &s.proxy("maps"),
        &[("Content-Type", "text/xml")],
        Some(br#"<GetCapabilities service="WMS" version="1.3.0"/>"#),
    );
    assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    let r = request_with(
        "POST",
        &s.proxy("emu"),
        &[("Content-Type", "text/xml")],
        Some(br#"<GetCapabilities version="1.0.0"/>"#),
    );
    assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    assert_eq!(
        get(
            &s.verify("maps?service=WMS&REQUEST=GetMetadata&item=menu"),
            Some(&bearer(&s.compute))
        )
        .status,
        200
    );
    assert_eq!(
        get(&s.verify("maps?SERVICE=WPS&REQUEST=GetCapabilities"), None).status,
        400
    );
    // QGIS Server's own operations are known: a token lets them through, none is public.
    for op in [
        "GetProjectSettings",
        "GetPrint&TEMPLATE=a4",
        "GetStyles&LAYERS=x",
    ] {
        let url = s.verify(&format!("maps?SERVICE=WMS&REQUEST={op}"));
        assert_eq!(get(&url, None).status, 401, "{op}");
        assert_eq!(get(&url, Some(&bearer(&s.compute))).status, 200, "{op}");
    }
    // MapServer links its layers' GetMetadata from its WFS and WCS capabilities too,
    // without a SERVICE: the registered type stands in.
    for kind in ["WFS", "WCS"] {
        let name = format!("ms{}", kind.to_ascii_lowercase());
        register(&s.server, &name, &s.backend.url, kind, "token");
        let url = s.verify(&format!("{name}?request=GetMetadata&layer=pts"));
        assert_eq!(get(&url, None).status, 401, "{kind}");
        assert_eq!(get(&url, Some(&bearer(&s.compute))).status, 200, "{kind}");
    }
}

/// A backend may act on the body rather than the query (PyWPS reads the body of every
/// POST), so a public operation in the query does not open a body that asks for more.
#[test]
fn a_public_query_does_not_open_the_body() {
    let s = setup();
    let execute = r#"<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"><ows:Identifier xmlns:ows="http://www.opengis.net/ows/1.1">hello</ows:Identifier></wps:Execute>"#;
    let form_execute = "service=WPS&version=1.0.0&request=Execute&identifier=hello";
    let describe = "emu?service=WPS&version=1.0.0&request=DescribeProcess&identifier=hello";
    for (query, content_type, body) in [
        (GETCAPS, "text/xml", execute),
        (GETCAPS, "application/octet-stream", execute),
        (GETCAPS, "application/json", "{}"),
        (describe, "text/xml", execute),
        (GETCAPS, "application/x-www-form-urlencoded", form_execute),
        (GETCAPS, "application/x-www-form-urlencoded", "a=b"),
    ] {
        let headers = [("Content-Type", content_type)];
        let r = request_with("POST", &s.proxy(query), &headers, Some(body.as_bytes()));
        assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
        let r = request_with("POST", &s.verify(query), &headers, Some(body.as_bytes()));
        assert_eq!(r.status, 401, "verify {query} {content_type}");
        let auth = bearer(&s.compute);
        let with_token = [("Content-Type", content_type), ("Authorization", &auth)];
        let r = request_with("POST", &s.proxy(query), &with_token, Some(body.as_bytes()));
        assert_eq!(r.status, 200, "{query} {content_type}: {}", r.text());
    }
    assert_eq!(
        s.backend.count(),
        6,
        "only the requests with a token went on"
    );

    // Query and body both public: public.
    let caps = r#"<GetCapabilities service="WPS"/>"#;
    let r = request_with(
        "POST",
        &s.proxy(GETCAPS),
        &[("Content-Type", "text/xml")],
        Some(caps.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // nginx's auth_request sends the method without the body: a POST is not judged by
    // its query alone.
    assert_eq!(request("POST", &s.verify(GETCAPS), None, None).status, 401);
    assert_eq!(get(&s.verify(GETCAPS), None).status, 200);
    // A length in list form frames the body as any other: the body is judged too.
    let head = format!(
        "POST /ows/proxy/{GETCAPS} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n\
         Content-Length: {n}, {n}\r\nConnection: close\r\n\r\n",
        n = execute.len()
    );
    let answer = raw(
        s.server.port,
        format!("{head}{execute}").as_bytes(),
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // A capabilities query does not make a write public.
    let before = s.backend.count();
    for method in ["PUT", "PATCH", "DELETE"] {
        let r = request(method, &s.proxy(GETCAPS), None, None);
        assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
        assert_eq!(request(method, &s.verify(GETCAPS), None, None).status, 401);
        let auth = bearer(&s.compute);
        let r = request_with(method, &s.proxy(GETCAPS), &[("Authorization", &auth)], None);
        assert_eq!(r.status, 200, "{method} with a token");
    }
    assert_eq!(
        request("OPTIONS", &s.proxy(GETCAPS), None, None).status,
        200
    );
    assert_eq!(s.backend.count(), before + 4);
}

/// Backends read more than `service`, `request` and `version` from the query, and
/// read bodies by other rules than their Content-Type: each way a real server would
/// run another operation than the one judged here needs a token, or is refused.
#[test]
fn what_backends_read_beside_the_judged_parameters_needs_a_token() {
    let s = setup();
    let auth = bearer(&s.compute);
    let comment_form = r#"<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"><!--&request=GetCapabilities&x=--></wps:Execute>"#;
    let caps_with_form = r#"<GetCapabilities service="WPS"><!--&service=WPS&request=Execute&version=1.0.0&x=--></GetCapabilities>"#;
    let form = "application/x-www-form-urlencoded";
    // Bodies PyWPS and QGIS read as XML or JSON, and MapServer as a form.
    for (content_type, body) in [
        (form, comment_form),
        (form, "\u{feff} \n<Execute service=\"WPS\"/>"),
        (form, "service=WPS&request=GetCapabilities&x=\u{e9}"),
        (form, "service=WPS&request=GetCapabilities&x=\u{0}"),
        (form, r#"{"x": "&request=GetCapabilities&"}"#),
        (form, r#"[1, "&service=WPS&request=GetCapabilities&"]"#),
        (
            "application/x-www-form-urlencoded; charset=json",
            "service=WPS&request=GetCapabilities",
        ),
        (
            "text/xml; profile=json",
            r#"<GetCapabilities service="WPS"/>"#,
        ),
        ("application/x-www-form-urlencoded+xml", caps_with_form),
        ("Application/X-WWW-Form-Urlencoded+XML", caps_with_form),
        // Java decodes a form in its declared charset: under IBM037 the ASCII pairs are
        // other names, and the escaped bytes read `Service=WPS&request=Execute`.
        (
            "application/x-www-form-urlencoded; charset=IBM037",
            "service=WPS&request=GetCapabilities&%E2%85%99%A5%89%83%85=%E6%D7%E2&%99%85%98%A4%85%A2%A3=%C5%A7%85%83%A4%A3%85",
        ),
        (
            "application/x-www-form-urlencoded; Charset=\"ISO-2022-JP\"",
            "service=WPS&request=GetCapabilities",
        ),
    ] {
        let headers = [("Content-Type", content_type)];
        let r = request_with("POST", &s.proxy("emu"), &headers, Some(body.as_bytes()));
        assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
        let with_token = [("Content-Type", content_type), ("Authorization", &auth)];
        let r = request_with("POST", &s.proxy("emu"), &with_token, Some(body.as_bytes()));
        assert_eq!(r.status, 200, "{content_type} {body}: {}", r.text());
    }
    // A UTF-16 document (libxml2 reads it by its BOM) whose comment's code units are
    // the bytes of a public form.
    let mut utf16: Vec<u8> = vec![0xFF, 0xFE];
    for unit in r#"<Execute service="WPS" version="1.0.0"><!--"#.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    utf16.extend_from_slice(b"&service=WPS&request=GetCapabilities&xx=");
    for unit in "--></Execute>".encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let r = request_with(
        "POST",
        &s.proxy("emu"),
        &[("Content-Type", form)],
        Some(&utf16),
    );
    assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    // A form that is a form still counts as one, in UTF-8 or Latin-1 too.
    for content_type in [
        form,
        "application/x-www-form-urlencoded; charset=UTF-8",
        "application/x-www-form-urlencoded;charset=\"iso-8859-1\"",
    ] {
        let r = request_with(
            "POST",
            &s.proxy("emu"),
            &[("Content-Type", content_type)],
            Some(b"service=WPS&request=GetCapabilities&x=%3Cy%3E"),
        );
        assert_eq!(r.status, 200, "{content_type}: {}", r.text());
    }
    let headers = [("Content-Type", form)];
    // Two Content-Types: a backend may read the other one.
    let twice = [("Content-Type", "text/xml"), ("Content-Type", form)];
    let r = request_with(
        "POST",
        &s.proxy("emu"),
        &twice,
        Some(b"service=WPS&request=GetCapabilities"),
    );
    assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");

    // libxml2 honours a declared UTF-7, under which these bytes are an Execute root.
    let utf7 = r#"<?xml version="1.0" encoding="UTF-7"?><GetCapabilities service="WPS"/>"#;
    for headers in [vec![], vec![("Authorization", auth.as_str())]] {
        let mut h = headers.clone();
        h.push(("Content-Type", "text/xml"));
        let r = request_with("POST", &s.proxy("emu"), &h, Some(utf7.as_bytes()));
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("encoding UTF-7"), "{}", r.text());
    }
    for encoding in ["us-ascii", "ISO-8859-1", " utf-8 "] {
        let doc = format!(
            r#"<?xml version="1.0" encoding='{encoding}'?><GetCapabilities service="WPS"/>"#
        );
        let r = request_with(
            "POST",
            &s.proxy("emu"),
            &[("Content-Type", "text/xml")],
            Some(doc.as_bytes()),
        );
        assert_eq!(r.status, 200, "{encoding}: {}", r.text());
    }

    // QGIS Server reads a body Qt cannot parse (`<x y>`, `<1x/>`, U+FFFE) as a form: in
    // a public document, a raw `&` outside a reference leaves it unjudged.
    let xml = [("Content-Type", "text/xml")];
    for hidden in [
        r#"<GetCapabilities service="WPS"><x y></x><!--&SERVICE=WPS&REQUEST=Execute&--></GetCapabilities>"#,
        r#"<GetCapabilities service="WPS"><![CDATA[&request=Execute&]]></GetCapabilities>"#,
        r#"<GetCapabilities service="WPS"><?pi &request=Execute&?></GetCapabilities>"#,
    ] {
        let r = request_with("POST", &s.proxy("emu"), &xml, Some(hidden.as_bytes()));
        assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    }
    // MapServer's WFS reads the body again with GDAL's parser, which takes a processing
    // instruction before the root for an element, or fails on it and falls to CGI mode.
    for hidden in [
        r#"<?xml version="1.0"?><?a:Execute service="WPS" version="1.0.0"?><GetCapabilities service="WPS"/>"#,
        r#"<?a:GetFeature service="WFS"></?a:GetFeature>?><GetCapabilities service="WPS"/>"#,
        r#"<GetCapabilities service="WPS"/><?a:Execute?>"#,
        "\u{feff}<?xml-stylesheet href=\"x\"?><GetCapabilities service=\"WPS\"/>",
    ] {
        let r = request_with("POST", &s.proxy("emu"), &xml, Some(hidden.as_bytes()));
        assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    }
    for declared in [
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetCapabilities service=\"WPS\"/>",
        "\u{feff}<?xml version='1.0'?><GetCapabilities service=\"WPS\"/>",
    ] {
        let r = request_with("POST", &s.proxy("emu"), &xml, Some(declared.as_bytes()));
        assert_eq!(r.status, 200, "{declared}: {}", r.text());
    }
    let references = r#"<GetCapabilities service="WPS"><a b="&amp;&#38;&#x26;"/>x &lt; y &gt; &quot;&apos;<!-- fine --></GetCapabilities>"#;
    let r = request_with("POST", &s.proxy("emu"), &xml, Some(references.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.backend.last().body, references.as_bytes());
    // A public document is read whole to judge it, up to 1 MiB; a longer one needs a
    // token, and goes on byte for byte with one.
    let long = format!(
        r#"<GetCapabilities service="WPS"><!--{}--></GetCapabilities>"#,
        "x".repeat(1 << 20)
    );
    let r = request_with("POST", &s.proxy("emu"), &xml, Some(long.as_bytes()));
    assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    let with_token = [
        ("Content-Type", "text/xml"),
        ("Authorization", auth.as_str()),
    ];
    let r = request_with("POST", &s.proxy("emu"), &with_token, Some(long.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.backend.last().body_len, long.len() as u64);
    let broken = r#"<GetCapabilities service="WPS"><a></b></GetCapabilities>"#;
    let before = s.backend.count();
    let r = request_with("POST", &s.proxy("emu"), &xml, Some(broken.as_bytes()));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        s.backend.count(),
        before,
        "a broken public document goes nowhere"
    );

    // QGIS Server takes the root's attributes for parameters, `request` over the name.
    let r = request_with(
        "POST",
        &s.proxy("emu"),
        &[("Content-Type", "text/xml")],
        Some(br#"<GetCapabilities service="WPS" REQUEST="Execute"/>"#),
    );
    assert_exception(&r, 400, "InvalidParameterValue", "request");
    let r = request_with(
        "POST",
        &s.proxy("emu"),
        &[("Content-Type", "text/xml")],
        Some(
            br#"<GetCapabilities service="WPS" request="getcapabilities" xmlns:request="urn:x"/>"#,
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request_with(
        "POST",
        &s.proxy("emu"),
        &[("Content-Type", "text/xml")],
        Some(br#"<GetCapabilities service="WPS" SERVICE="WMS"/>"#),
    );
    assert_exception(&r, 400, "InvalidParameterValue", "service");

    // MapServer: any `mode` but ows or wfs renders without OWS dispatch, and a `context`
    // is loaded into the map; a name holding
    // an encoded `=` or NUL is split or cut there into a second `request`; cookies are
    // parameters after the query.
    let before = s.backend.count();
    for (rest, cookie) in [
        (format!("{GETCAPS}&mode=map"), None),
        (format!("{GETCAPS}&MODE=tile"), None),
        (GETCAPS.to_string(), Some("request=Execute")),
        (GETCAPS.to_string(), Some("a=b; Mode=map")),
        (GETCAPS.to_string(), Some("%72equest=Execute")),
        // MapServer decodes a cookie before it splits it.
        (GETCAPS.to_string(), Some("request%3DExecute")),
        (GETCAPS.to_string(), Some("+request=Execute")),
        (GETCAPS.to_string(), Some("x=1;%20mode=map")),
        (GETCAPS.to_string(), Some("mode%3Dmap")),
        // MapServer loads a Web Map Context into the map before it dispatches.
        (format!("{GETCAPS}&context=/srv/other/ctx.xml"), None),
        (GETCAPS.to_string(), Some("Context=/srv/other/ctx.xml")),
    ] {
        let mut headers = vec![];
        if let Some(c) = cookie {
            headers.push(("Cookie", c));
        }
        let r = request_with("GET", &s.proxy(&rest), &headers, None);
        assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
        assert_eq!(
            request_with("GET", &s.verify(&rest), &headers, None).status,
            401,
            "verify {rest} {cookie:?}"
        );
        headers.push(("Authorization", &auth));
        let r = request_with("GET", &s.proxy(&rest), &headers, None);
        assert_eq!(r.status, 200, "{rest} {cookie:?} with a token");
    }
    assert_eq!(
        s.backend.count(),
        before + 11,
        "only those with a token went on"
    );
    let r = request_with(
        "GET",
        &s.proxy(&format!("{GETCAPS}&mode=OWS")),
        &[("Cookie", "session=abc; lang=en; version=2; mode=wfs")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // MapCache writes names out decoded when it forwards a request: `x&request`.
    for key in [
        "request%3DExecute",
        "request%00x",
        "x%26request",
        "x%23y",
        "request%0A",
    ] {
        let rest = format!("{GETCAPS}&{key}=Execute");
        let r = get(&s.proxy(&rest), Some(&auth));
        assert_eq!(r.status, 400, "{key}: {}", r.text());
        assert!(r.text().contains("InvalidParameterValue"), "{}", r.text());
        assert_eq!(get(&s.verify(&rest), None).status, 400);
    }
    // A name with an encoded `=` counts whether or not the query asks anything else:
    // MapServer reads the form first, then the query, and the last `request` wins.
    for query in ["emu?request%3DExecute", "emu?mode%3Dmap"] {
        let r = request_with(
            "POST",
            &s.proxy(query),
            &headers,
            Some(b"service=WPS&request=GetCapabilities"),
        );
        assert_exception(
            &r,
            400,
            "InvalidParameterValue",
            &query[4..].replace("%3D", "="),
        );
    }
    let form_mode = "service=WPS&request=GetCapabilities&mode=legend";
    let r = request_with(
        "POST",
        &s.proxy("emu"),
        &headers,
        Some(form_mode.as_bytes()),
    );
    assert_eq!(r.status, 401, "{}", r.text());
}

type Header<'a> = (&'a str, &'a str);

/// Rails, Laravel, Symfony and Express take another method from a `_method` parameter or
/// an override header: a GetCapabilities that is a DELETE to the backend is not public.
#[test]
fn a_method_override_is_no_public_operation() {
    let s = setup();
    let auth = bearer(&s.compute);
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let caps_form = "service=WPS&request=GetCapabilities";
    let before = s.backend.count();
    let cases: [(&str, Vec<Header>, Option<String>); 6] = [
        ("GET", vec![], Some(format!("{GETCAPS}&_method=DELETE"))),
        // PHP stores `.method` as `_method`.
        ("GET", vec![], Some(format!("{GETCAPS}&.method=DELETE"))),
        ("POST", vec![form], None),
        ("GET", vec![("X-HTTP-Method-Override", "DELETE")], None),
        ("GET", vec![("X_HTTP_Method", "patch")], None),
        ("POST", vec![form, ("X-Method-Override", "PUT")], None),
    ];
    for (method, headers, query) in cases {
        let target = query.unwrap_or_else(|| GETCAPS.to_string());
        let body = (method == "POST").then(|| {
            if headers.iter().any(|(k, _)| *k == "X-Method-Override") {
                caps_form.to_string()
            } else {
                format!("{caps_form}&_method=delete")
            }
        });
        let send = |extra: Option<(&str, &str)>, url: &str| {
            let mut h = headers.clone();
            h.extend(extra);
            request_with(method, url, &h, body.as_deref().map(str::as_bytes))
        };
        let r = send(None, &s.proxy(&target));
        assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
        if method == "GET" {
            assert_eq!(send(None, &s.verify(&target)).status, 401, "{headers:?}");
        }
        let r = send(Some(("Authorization", &auth)), &s.proxy(&target));
        assert_eq!(
            r.status,
            200,
            "{headers:?} {target} with a token: {}",
            r.text()
        );
    }
    assert_eq!(
        s.backend.count(),
        before + 6,
        "only those with a token went on"
    );
    // Overrides naming a method OWS reads with change nothing.
    let r = request_with(
        "GET",
        &s.proxy(&format!("{GETCAPS}&_method=post")),
        &[("X-HTTP-Method-Override", "GET")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // `Proxy` is never passed on: a CGI backend would take it for HTTP_PROXY.
    let r = request_with(
        "GET",
        &s.proxy(GETCAPS),
        &[("Proxy", "http://evil:1")],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.backend.last().header("Proxy"), None);
}

#[test]
fn capabilities_in_any_version_and_geoserver_execution_status() {
    let s = setup();
    // The backend negotiates the version of its capabilities.
    let r = get(
        &s.proxy("emu?service=WPS&request=GetCapabilities&version=1.2.0"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(
        &s.proxy("emu?service=WPS&request=DescribeProcess&version=1.2.0"),
        None,
    );
    assert_exception(&r, 400, "InvalidParameterValue", "version");
    // GeoServer's WPS polls with its own operations: protected, and passed on.
    let status = "emu?service=WPS&version=1.0.0&request=GetExecutionStatus&executionId=1";
    let r = get(&s.proxy(status), None);
    assert_exception(&r, 401, "NoApplicableCode", "AccessForbidden");
    let before = s.backend.count();
    get(&s.proxy(status), Some(&bearer(&s.compute)));
    assert!(s.backend.last().query.contains("GetExecutionStatus"));
    assert_eq!(s.backend.count(), before + 1);
}

/// With one place, a client that sends its body slowly (and no token) holds no place
/// while it waits: the others are served, and it is answered once its body is in.
#[test]
fn a_slow_body_holds_no_place_while_the_client_sends_it() {
    use std::io::{Read, Write};
    let s = setup_with(Launch::default().env("TWITCHER_WORKERS", "1"));
    // Over the 1 KiB that tiny_http reads before the handler runs.
    let body = format!(
        "service=WPS&version=1.0.0&request=Execute&identifier=hello&x={}",
        "a".repeat(4096)
    );
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", s.server.port)).unwrap();
    write!(
        slow,
        "POST /ows/proxy/emu HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    slow.flush().unwrap();
    // The slow request is under way (reading its body) while this one is served too.
    wait_for(10, "the slow request in flight", || {
        let v = get(&format!("{}/stats", s.server.url), Some(&admin_auth())).json();
        (v["in_flight"] == 2).then_some(())
    });
    for _ in 0..3 {
        let r = get(&s.proxy(GETCAPS), None);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    slow.write_all(&body.as_bytes()[10..]).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = vec![0; 4096];
    let n = slow.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(s.backend.count(), 3, "only the public requests went on");
}

/// The backend counts bytes by Content-Length: a cut-off document must not reach it
/// whole, or it would act on it before the upload is stopped.
#[test]
fn a_cut_off_xml_body_is_refused_before_it_arrives_whole() {
    let s = setup();
    let auth = bearer(&s.compute);
    let with_token = [("Content-Type", "text/xml"), ("Authorization", &auth)];
    for cut_off in [
        r#"<wps:Execute service="WPS" version="1.0.0" xmlns:wps="x"><a>"#,
        "<Execute service=\"WPS\" version=\"1.0.0\"><a>x\u{1}y</a></Execute>",
    ] {
        let r = request_with(
            "POST",
            &s.proxy("emu"),
            &with_token,
            Some(cut_off.as_bytes()),
        );
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("ExceptionReport"));
        for seen in s.backend.requests() {
            assert!(seen.body_len < cut_off.len() as u64, "it arrived whole");
        }
    }
}

#[test]
fn forms_carry_parameters_and_tokens() {
    let s = setup();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let body = format!(
        "service=WPS&version=1.0.0&request=Execute&identifier=hello&access_token={}",
        s.compute
    );
    let r = request_with("POST", &s.proxy("emu"), &form, Some(body.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = s.backend.last();
    assert_eq!(
        seen.body, b"service=WPS&version=1.0.0&request=Execute&identifier=hello",
        "the form goes on as sent, but for the token"
    );
    let r = request_with(
        "POST",
        &s.proxy("emu"),
        &form,
        Some(b"service=WPS&version=1.0.0&request=Execute"),
    );
    assert_eq!(r.status, 401);
    // A public service gets the form without the token too.
    register(&s.server, "open", &s.backend.url, "WPS", "public");
    let body = format!("access_token={}&service=WPS&request=Execute", s.compute);
    let r = request_with("POST", &s.proxy("open"), &form, Some(body.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.backend.last().body, b"service=WPS&request=Execute");
    // /ows/verify forwards nothing, so it waits for no form on a public service: nginx's
    // auth_request passes the client's Content-Length on without the body.
    let head = "POST /ows/verify/open HTTP/1.1\r\nHost: x\r\nContent-Type: \
                application/x-www-form-urlencoded\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n";
    let out = raw(s.server.port, head.as_bytes(), Duration::from_secs(10));
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

/// Reads a response body to its end without keeping it; returns (bytes, hash).
fn drain(mut body: impl Read) -> (u64, u64) {
    let mut buf = vec![0u8; 256 * 1024];
    let (mut n, mut h) = (0u64, FNV_START);
    loop {
        match body.read(&mut buf).unwrap() {
            0 => return (n, h),
            k => {
                n += k as u64;
                h = fnv(h, &buf[..k]);
            }
        }
    }
}

fn expected_hash(size: u64) -> u64 {
    let mut h = FNV_START;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut i = 0;
    while i < size {
        buf.clear();
        let n = (size - i).min(64 * 1024);
        buf.extend((i..i + n).map(pattern));
        h = fnv(h, &buf);
        i += n;
    }
    h
}

#[test]
fn large_bodies_stream_both_ways() {
    let s = setup_with(Launch::default().env("TWITCHER_MAX_BODY_SIZE", "96M"));
    let size: u64 = 80 << 20;
    for chunked in ["", "&chunked=1"] {
        let url = s.proxy(&format!("emu/big?size={size}{chunked}"));
        let resp = agent()
            .get(&url)
            .header("Authorization", bearer(&s.compute))
            .call()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let length = resp
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            length.is_some(),
            chunked.is_empty(),
            "a known length is passed on"
        );
        let (n, h) = drain(resp.into_body().into_reader());
        assert_eq!((n, h), (size, expected_hash(size)), "{chunked}");
    }
    // XML over the rewrite cap streams through as well (rewritten as it goes).
    let big_xml = agent()
        .get(&s.proxy(&format!("emu/big.xml?size={}", 20u64 << 20)))
        .header("Authorization", bearer(&s.compute))
        .call()
        .unwrap();
    assert_eq!(drain(big_xml.into_body().into_reader()).0, 20 << 20);

    // An upload of 80 MiB arrives whole.
    let upload = agent()
        .put(&s.proxy("emu/uploads/x.bin"))
        .header("Authorization", bearer(&s.compute))
        .send(ureq::SendBody::from_owned_reader(Pattern {
            at: 0,
            left: size,
        }))
        .unwrap();
    assert_eq!(upload.status(), 200);
    let seen = s.backend.last();
    assert_eq!(
        (seen.method.as_str(), seen.body_len, seen.body_hash),
        ("PUT", size, expected_hash(size))
    );
    assert_eq!(seen.header("Transfer-Encoding"), Some("chunked"));
}

/// A backend on raw TCP that answers each request with `answer` and closes: a
/// response cut off mid-body. Returns the service URL.
fn cut_off_backend(answer: &'static [u8]) -> String {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/wps", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = c.write_all(answer);
        }
    });
    url
}

/// A backend that broke off mid-body reached the client as a complete response: the
/// chunked body got its last chunk from the proxy, and the connection went on to the
/// next request. The client now sees the connection end before the body does.
#[test]
fn a_body_the_backend_cuts_off_is_not_passed_on_as_complete() {
    let s = setup();
    let chunked = cut_off_backend(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
          Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nonly8by",
    );
    let sized = cut_off_backend(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
          Content-Length: 100\r\n\r\nhello, but not 100 bytes",
    );
    register(&s.server, "chunks", &chunked, "WPS", "public");
    register(&s.server, "sized", &sized, "WPS", "public");
    // A second request right behind the first must not be answered on that connection.
    let next = "GET /info HTTP/1.1\r\nHost: x\r\n\r\n";
    let ask = |service: &str| {
        let start = std::time::Instant::now();
        let two = format!("GET /ows/proxy/{service} HTTP/1.1\r\nHost: x\r\n\r\n{next}");
        let out = raw(s.server.port, two.as_bytes(), Duration::from_secs(10));
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert_eq!(out.matches("HTTP/1.1").count(), 1, "one response: {out}");
        assert!(start.elapsed() < Duration::from_secs(5), "closed at once");
        out
    };
    let out = ask("chunks");
    assert!(out.contains("Transfer-Encoding: chunked\r\n"), "{out}");
    assert!(out.contains("hello"), "what came is passed on: {out}");
    assert!(!out.ends_with("0\r\n\r\n"), "no last chunk: {out}");
    let out = ask("sized");
    assert!(out.contains("Content-Length: 100\r\n"), "{out}");
    let body = &out[out.find("\r\n\r\n").unwrap() + 4..];
    assert!(body.len() < 100, "{out}");
    s.server.wait_log("sending the response failed");
}

#[test]
fn bodies_over_the_limit_get_413_as_exception_reports() {
    let s = setup_with(Launch::default().env("TWITCHER_MAX_BODY_SIZE", "1M"));
    let auth = bearer(&s.compute);
    // Over the limit, and within what the server drains after an early answer, so the
    // client reads the 413 rather than a reset.
    let big = vec![b'x'; (1 << 20) + (64 << 10)];
    let r = request_with(
        "PUT",
        &s.proxy("emu/up"),
        &[("Authorization", &auth)],
        Some(&big),
    );
    assert_exception(&r, 413, "NoApplicableCode", "NoApplicableCode");
    // Chunked, so no length warns in advance: cut off on the way.
    let r = agent()
        .put(&s.proxy("emu/up"))
        .header("Authorization", &auth)
        .send(ureq::SendBody::from_owned_reader(Pattern {
            at: 0,
            left: 2 << 20,
        }));
    let r = r.unwrap();
    assert_eq!(r.status(), 413);
    assert!(s.backend.requests().iter().all(|r| r.body_len < 2 << 20));

    // /ows/verify keeps its own JSON, and /oauth its RFC 6749 errors, also for 413.
    let r = request("PUT", &s.verify("emu/up"), Some(&auth), Some(&big));
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["access"], false);
    let r = request(
        "POST",
        &format!("{}/oauth/token", s.server.url),
        None,
        Some(&big),
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"], "invalid_request");
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    // The limit it names is the forms' own, whichever check refused the body.
    for size in [100 << 10, (1 << 20) + (64 << 10)] {
        let r = request(
            "POST",
            &format!("{}/oauth/token", s.server.url),
            None,
            Some(&big[..size]),
        );
        assert_eq!(r.status, 413);
        assert_eq!(
            r.json()["error_description"],
            "Request body larger than the limit of 65536 bytes"
        );
    }
}

/// Errors answered before a handler runs (404, 405) come in the format of the endpoint
/// they are under, as the handler's own would.
#[test]
fn early_errors_speak_each_endpoints_format() {
    let s = setup();
    let base = &s.server.url;
    for (method, path, status) in [
        ("TRACE", "/ows/proxy/emu", 405),
        ("GET", "/ows/proxy/%ff", 404),
        ("GET", "/ows/proxy", 404),
        ("GET", "/ows/proxy/", 404),
    ] {
        let r = request(method, &format!("{base}{path}"), None, None);
        assert_exception(&r, status, "NoApplicableCode", "NoApplicableCode");
        if status == 405 {
            assert!(r.header("Allow").unwrap().contains("POST"));
        }
    }
    for (method, path, status) in [
        ("TRACE", "/ows/verify/emu", 405),
        ("GET", "/ows/verify", 404),
    ] {
        let r = request(method, &format!("{base}{path}"), None, None);
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.json()["access"], false, "{path}");
    }
    for (method, path, status) in [("PUT", "/oauth/token", 405), ("GET", "/oauth/nope", 404)] {
        let r = request(method, &format!("{base}{path}"), None, None);
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.json()["error"], "invalid_request", "{path}");
        assert_eq!(r.header("Cache-Control"), Some("no-store"), "{path}");
    }
    // The REST API keeps its own shape.
    let r = request("PUT", &format!("{base}/services"), None, None);
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["status"], "error");
    assert_eq!(get(&format!("{base}/nope"), None).json()["status"], "error");
}

/// With every place taken by a request waiting on a slow backend, the liveness probe
/// still answers: it does not queue.
#[test]
fn healthz_answers_while_every_place_waits_on_a_backend() {
    let s = setup_with(Launch::default().env("TWITCHER_WORKERS", "1"));
    let slow_url = s.proxy("emu/slow");
    let auth = bearer(&s.compute);
    let slow = std::thread::spawn(move || get(&slow_url, Some(&auth)).status);
    wait_for(10, "the slow request at the backend", || {
        (s.backend.count() == 1).then_some(())
    });
    let r = get(&format!("{}/healthz", s.server.url), None);
    assert_eq!(r.status, 200);
    assert!(!slow.is_finished(), "/healthz waited for the slow request");
    assert_eq!(slow.join().unwrap(), 200);
}

#[test]
fn traffic_counters_and_health_endpoints() {
    let s = setup();
    assert_eq!(get(&s.proxy(GETCAPS), None).status, 200);
    assert_eq!(get(&s.proxy(EXECUTE), None).status, 401);
    assert_eq!(
        get(&s.proxy(EXECUTE), Some(&bearer(&s.compute))).status,
        200
    );
    assert_eq!(get(&format!("{}/stats", s.server.url), None).status, 401);
    // Counters are taken once a response is sent; poll until the three are in, and until
    // the poll before is counted out (it is in flight until its response has gone).
    let stats = wait_for(5, "the counters", || {
        let v = get(&format!("{}/stats", s.server.url), Some(&admin_auth())).json();
        (v["services"][0]["requests"] == 3 && v["in_flight"] == 1).then_some(v)
    });
    assert_eq!(stats["services"][0]["name"], "emu");
    assert_eq!(stats["services"][0]["refused"], 1);
    assert!(stats["status"]["2xx"].as_u64().unwrap() >= 2);
    assert!(stats["status"]["4xx"].as_u64().unwrap() >= 1);
    assert!(stats["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    assert_eq!(stats["in_flight"], 1, "the /stats request itself");
    let m = get(&format!("{}/metrics", s.server.url), Some(&admin_auth()));
    assert_eq!(m.status, 200);
    assert!(
        m.text()
            .contains("twitcher_service_requests_total{service=\"emu\",result=\"refused\"} 1"),
        "{}",
        m.text()
    );
    assert_eq!(
        get(&format!("{}/healthz", s.server.url), None).json()["status"],
        "ok"
    );
    assert_eq!(get(&format!("{}/readyz", s.server.url), None).status, 200);
}
