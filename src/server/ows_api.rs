//! `{p}/proxy/{service}[/{extra}]` forwards an OWS request when it may pass;
//! `{p}/verify/{service}[/{extra}]` only says whether it may (for nginx `auth_request`).
//! Both take the same decision, and refuse with the same status codes.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::io::{self, Read};
use std::sync::Arc;

use serde_json::json;

use super::app::App;
use super::http::{
    Body, Method, Request, Response, decode_pairs, push_header_line, valid_header_name,
    valid_header_value,
};
use super::rewrite_bases::{Named, forwarded_base, public_url};
use super::routes::Params;
use crate::auth::bearer::{Grant, challenge, form_token, token_in};
use crate::log;
use crate::ows::exception::{OwsError, clip};
use crate::ows::operation::ServiceType;
use crate::ows::policy::{COMPUTE_SCOPE, Class, Refusal, ServiceAuth, decide};
use crate::ows::request::{
    OwsRequest, Registered, cookies_carry_params, from_xml, read_kvp, reads_like_ows,
};
use crate::ows::rewrite::{Base, Form, Rewriting, body_form, essence, is_xml, rewrite};
use crate::ows::xml_body::{Fault, XmlBody};
use crate::proxy::headers::{
    Forwarding, METHOD_OVERRIDES, passed, request_headers, response_headers, same_name,
};
use crate::proxy::target::{check_extra, forwarded_form, target_url};
use crate::proxy::upstream::{Failure, Incoming, Outbody, Target, silent_too_long};
use crate::registry::Service;

/// What a WPS operation may answer with: Twitcher's list, with its missing comma
/// fixed and parameters (`; charset=...`) ignored. Data downloads are not checked.
const WPS_CONTENT_TYPES: &[&str] = &[
    "application/xml",
    "text/xml",
    "application/vnd.ogc.se_xml",
    "application/vnd.ogc.se+xml",
    "application/vnd.ogc.wms_xml",
    "application/vnd.google-earth.kml+xml",
    "application/vnd.google-earth.kmz",
    "image/png",
    "image/gif",
    "image/jpeg",
    "application/json",
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Proxy,
    Verify,
}

pub fn proxy(app: &App, req: &mut Request, params: &Params) -> Response {
    let Some(origin) = cors_origin(app, req) else {
        return run(app, req, params, Mode::Proxy);
    };
    // A preflight never carries a token, and a backend that ignores the method would
    // answer it as a GET: it is answered here and goes no further.
    if req.method == Method::Options && req.header("Access-Control-Request-Method").is_some() {
        return preflight(&origin, req);
    }
    with_cors(run(app, req, params, Mode::Proxy), &origin)
}

/// What `Access-Control-Allow-Origin` says to this request: None when it comes from
/// no origin `twitcher.proxy.cors_origins` lets in.
fn cors_origin(app: &App, req: &Request) -> Option<String> {
    let allowed = &app.settings.proxy.cors_origins;
    if allowed.is_empty() {
        return None;
    }
    let origin = req.header("Origin")?.trim();
    if allowed.iter().any(|a| a == "*") {
        return Some("*".into());
    }
    allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(origin))
        .then(|| origin.to_string())
}

const CORS_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";

fn preflight(origin: &str, req: &Request) -> Response {
    let mut r = Response::new(204)
        .header("Access-Control-Allow-Origin", origin)
        .header("Access-Control-Allow-Methods", CORS_METHODS)
        .header("Access-Control-Max-Age", "600")
        .header(
            "Vary",
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        );
    if let Some(asked) = req.header("Access-Control-Request-Headers")
        && asked.split(',').all(|h| valid_header_name(h.trim()))
    {
        r = r.header("Access-Control-Allow-Headers", asked.trim());
    }
    r
}

/// The answer, readable by the app at `origin`: the backend's own CORS headers give way
/// to these, since two allow-origin headers make a browser refuse the answer.
fn with_cors(mut resp: Response, origin: &str) -> Response {
    let is_cors =
        |name: &[u8]| name.len() >= 15 && name[..15].eq_ignore_ascii_case(b"access-control-");
    resp.headers.retain(|(k, _)| !is_cors(k.as_bytes()));
    resp.header_lines = resp
        .header_lines
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| !is_cors(line))
        .flatten()
        .copied()
        .collect();
    resp.header("Access-Control-Allow-Origin", origin)
        .header(
            "Access-Control-Expose-Headers",
            "WWW-Authenticate, Location, Content-Location, Link",
        )
        .header("Vary", "Origin")
}

pub fn verify(app: &App, req: &mut Request, params: &Params) -> Response {
    run(app, req, params, Mode::Verify)
}

/// A refusal: an ExceptionReport from the proxy, Twitcher's JSON from verify. The
/// router answers its own errors on these paths (404, 405, 413) with it too.
pub fn refuse(mode: Mode, e: &OwsError) -> Response {
    match mode {
        Mode::Proxy => Response::bytes(e.status, "text/xml; charset=utf-8", e.to_xml()),
        Mode::Verify => {
            let mut body = json!({"description": e.text, "access": false});
            if let Some(d) = &e.detail {
                body["reason"] = json!(d);
            }
            Response::json(e.status, &body)
        }
    }
}

fn refusal(mode: Mode, r: Refusal) -> Response {
    let detail = match r {
        Refusal::Token(d) => d.description(COMPUTE_SCOPE),
        Refusal::Certificate => "a verified client certificate is required".to_string(),
    };
    let e = OwsError::other(
        r.status(),
        "AccessForbidden",
        "Access to service is forbidden.",
    )
    .with_detail(detail);
    let resp = refuse(mode, &e);
    match r {
        Refusal::Token(d) => resp.header("WWW-Authenticate", challenge(&d, COMPUTE_SCOPE)),
        Refusal::Certificate => resp,
    }
}

/// How the client's body, if any, is to be read.
enum BodyKind {
    None,
    Form,
    Xml,
    Other,
}

/// A body is judged only as what every backend would read it as. PyWPS reads a body
/// as JSON when its Content-Type merely holds `json`; GeoServer and MapServer take a
/// form by a case-sensitive prefix, so `application/x-www-form-urlencoded+xml` is a
/// form to them and XML here. Such bodies are left unjudged.
///
/// Java servlet containers decode a form in the charset it declares, under which
/// (IBM037, ISO-2022-JP) the ASCII pairs judged here can be other names and escaped
/// bytes a `request`; a form in another charset than UTF-8, US-ASCII or ISO-8859-1
/// is not judged. Nor is a body with two Content-Types, of which a backend may read
/// the other.
fn body_kind(req: &Request) -> BodyKind {
    if !req.has_body() {
        return BodyKind::None;
    }
    if req.header_values("Content-Type").nth(1).is_some() {
        return BodyKind::Other;
    }
    let header = req.header("Content-Type").unwrap_or("");
    let essence = essence(header);
    if header
        .as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"json"))
    {
        BodyKind::Other
    } else if essence == "application/x-www-form-urlencoded" {
        if form_charset_is_ascii_based(header) {
            BodyKind::Form
        } else {
            BodyKind::Other
        }
    } else if essence.contains("form-urlencoded") {
        BodyKind::Other
    } else if essence.is_empty() || is_xml(&essence) {
        BodyKind::Xml
    } else {
        BodyKind::Other
    }
}

/// Whether a form's Content-Type names no charset, or one whose decoding of escaped
/// bytes cannot make other names than the ASCII ones judged here. Narrower than the
/// XML declarations `xml_body` takes: under ISO-8859-9, `%FD` is `ı`, which Java's
/// case folding makes an `i` of `servıce`.
fn form_charset_is_ascii_based(content_type: &str) -> bool {
    content_type.split(';').skip(1).all(|param| {
        let Some((name, value)) = param.split_once('=') else {
            return true;
        };
        !name.trim().eq_ignore_ascii_case("charset")
            || ["utf-8", "us-ascii", "iso-8859-1"]
                .iter()
                .any(|c| value.trim().trim_matches('"').eq_ignore_ascii_case(c))
    })
}

/// Whether a form's bytes are a form to every backend. PyWPS parses every POST body
/// as XML, and QGIS Server tries XML first, so `<Execute …><!--&request=GetCapabilities-->`
/// sent as a form runs Execute there; libxml2 also reads UTF-16, UCS-4 and EBCDIC
/// documents, in whose bytes any ASCII pairs can be hidden. A form encoder sends
/// printable ASCII only and escapes `<`, `{` and `[`; anything else is not judged.
fn plainly_a_form(body: &[u8]) -> bool {
    let printable = |b: &u8| matches!(b, b' '..=b'~' | b'\t' | b'\r' | b'\n');
    body.iter().all(printable)
        && !body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| matches!(b, b'<' | b'{' | b'['))
}

/// How much of an XML body asking a public operation is read before it is judged.
/// GetCapabilities and DescribeProcess documents are a few hundred bytes; a longer
/// one is not judged, so it needs a token.
const PUBLIC_XML_MAX: u64 = 1 << 20;

/// Whether every `&` in a document starts one of the references XML allows. QGIS
/// Server reads a body it cannot parse as XML (Qt is stricter than quick-xml: `<x y>`,
/// `<1x/>`, U+FFFE) as `KEY=VALUE&...`, so a raw `&` in a comment, CDATA, a
/// processing instruction or an attribute could carry `&REQUEST=GetMap` behind a
/// public root; with none, no pair can name a parameter.
fn ampersands_only_in_references(doc: &[u8]) -> bool {
    memchr::memchr_iter(b'&', doc).all(|at| {
        let rest = &doc[at + 1..];
        let Some(end) = memchr::memchr(b';', &rest[..rest.len().min(12)]) else {
            return false;
        };
        match &rest[..end] {
            b"amp" | b"lt" | b"gt" | b"apos" | b"quot" => true,
            [b'#', b'x', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
            [b'#', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
            _ => false,
        }
    })
}

/// Whether the document's only processing instruction, if any, is its XML declaration.
/// MapServer's WFS reads a body with GDAL's parser after libxml2 dispatched it, and
/// that parser takes `<?a:GetFeature ...?>` before a public root for a `GetFeature`
/// element, or, failing on `>` inside one, sends the request to its CGI mode, which
/// draws the map. A request document has no use for one.
fn no_processing_instruction(doc: &[u8]) -> bool {
    let doc = doc.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(doc);
    let rest = match doc.strip_prefix(b"<?xml") {
        Some(decl)
            if decl
                .first()
                .is_some_and(|b| b.is_ascii_whitespace() || *b == b'?') =>
        {
            match memchr::memmem::find(decl, b"?>") {
                Some(end) => &decl[end + 2..],
                None => return false,
            }
        }
        _ => doc,
    };
    memchr::memmem::find(rest, b"<?").is_none()
}

/// How the client's body goes on: parsed on the way, already read, as it comes, or
/// none. A parsed body may have been read in part to judge it; that part goes first.
enum Plan<R: Read> {
    Xml(XmlBody<R>),
    Buffered(Vec<u8>),
    Raw,
    Empty,
}

/// The client's body as it is forwarded; remembers why reading it failed.
struct ClientBody<R> {
    inner: R,
    failed: Option<io::ErrorKind>,
}

impl<R: Read> Read for ClientBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.failed.get_or_insert(e.kind());
        })
    }
}

fn run(app: &App, req: &mut Request, params: &Params, mode: Mode) -> Response {
    let name = params.get("service");
    let extra = params.get("extra");
    let service = match app.services.get(name) {
        Ok(Some(s)) => {
            req.service = Some(s.name.clone());
            s
        }
        Ok(None) => {
            let e = OwsError::other(
                404,
                "NotAcceptable",
                format!("Could not find service: {}", clip(name)),
            );
            return refuse(mode, &e);
        }
        Err(e) => {
            log::error(&format!("registry lookup failed: {e}"));
            return refuse(
                mode,
                &OwsError::other(
                    503,
                    "NoApplicableCode",
                    "The registry is unavailable; try again",
                ),
            );
        }
    };
    if let Err(m) = check_extra(extra) {
        return refuse(mode, &OwsError::invalid("path", m));
    }
    // A request target has no fragment (RFC 9112 §3.2), and backends cut one off (nginx's
    // $args, gunicorn, ureq here): `?x#&service=WMS&request=GetCapabilities` would be
    // judged a named GetCapabilities while MapServer got `?x` and drew a map.
    for (part, text) in [("path", extra), ("query", req.query.as_str())] {
        if text.contains('#') {
            let e = OwsError::invalid(part, "A request target may not hold a fragment (#)");
            return refuse(mode, &e);
        }
    }
    if passed(req.header_values("Via"), &app.via_name) {
        log::warn(&format!(
            "service {name}: a request came back to this proxy; the service's URL leads here"
        ));
        let e = OwsError::other(
            508,
            "NoApplicableCode",
            format!("Service {name} leads back to this proxy"),
        );
        return refuse(mode, &e);
    }
    let auth = ServiceAuth::of(&service.auth);
    let checked = app.settings.ows_security && auth != ServiceAuth::Public;
    let registered = Registered::of(&service.kind);
    // Borrowed from the query as sent: decoding copies only what was encoded.
    let query: Vec<(Cow<str>, Cow<str>)> = decode_pairs(&req.query).collect();
    let kind = body_kind(req);
    let query_token = token_in(req.header("Authorization"), query.iter().cloned());

    // Only a protected service needs to know what is asked; a public one gets the
    // request as it is, OWS or not. The query and the body are each read for a request,
    // since a backend may act on either (PyWPS reads the body of every POST).
    let mut form: Option<Vec<u8>> = None;
    let mut query_ows: Option<OwsRequest> = None;
    let mut body_ows: Option<OwsRequest> = None;
    // Parameters some backends read beside the three judged here.
    let mut off_dispatch = checked && cookies_carry_params(req.header_values("Cookie"));
    if checked {
        match read_kvp(&query, registered) {
            Ok(kvp) => {
                query_ows = kvp.request;
                off_dispatch |= kvp.off_dispatch;
            }
            Err(e) => return refuse(mode, &e),
        }
    }
    // A form is read on every service it is forwarded to, public ones too, so that an
    // access_token in it stays with the proxy as one in the query does. /ows/verify
    // forwards nothing, and nginx's auth_request sends it no body.
    if matches!(kind, BodyKind::Form) && (checked || mode == Mode::Proxy) {
        let body = match req.read_body() {
            Ok(b) => b,
            Err(e) => return refuse(mode, &body_error(e)),
        };
        if checked && plainly_a_form(&body) {
            let pairs: Vec<(Cow<str>, Cow<str>)> = form_urlencoded::parse(&body).collect();
            match read_kvp(&pairs, registered) {
                Ok(kvp) => {
                    body_ows = kvp.request;
                    off_dispatch |= kvp.off_dispatch;
                }
                Err(e) => return refuse(mode, &e),
            }
        }
        form = Some(body);
    }
    let token = query_token.or_else(|| form.as_deref().and_then(form_token));
    let peer = req.peer.map(|p| p.ip());
    let peer_trusted =
        peer.is_some_and(|ip| app.settings.trusted_proxies.iter().any(|c| c.contains(ip)));
    let cert_verified = peer_trusted
        && req
            .header("X-Ssl-Client-Verify")
            .is_some_and(|v| v.trim_matches([' ', '\t']) == "SUCCESS");
    let method = req.method;
    let length = req.content_length();
    let has_body = req.has_body();
    let overridden = overrides_method(req);
    let front = match mode {
        Mode::Verify => front_says(req),
        Mode::Proxy => FrontSays::NOTHING,
    };
    let unseen_body = mode == Mode::Verify
        && !(matches!(method, Method::Get | Method::Head | Method::Options) && front.bodiless);
    let url = target_url(&service.url, extra, &req.query);
    let parse_xml =
        checked && form.is_none() && method == Method::Post && matches!(kind, BodyKind::Xml);

    // Made while the request's headers can still be borrowed; /ows/verify sends none.
    let headers = if mode == Mode::Proxy {
        let forwarding = Forwarding {
            peer,
            peer_trusted,
            scheme: if app.url.starts_with("https:") {
                "https"
            } else {
                "http"
            },
            forward_authorization: app.settings.proxy.forward_authorization,
            pass_identity: app.settings.proxy.pass_identity,
            via_name: &app.via_name,
            target_host: req.target_host.as_deref(),
        };
        request_headers(&req.headers(), &forwarding)
    } else {
        Vec::new()
    };

    // From here on the body is read, and the request is not looked at again.
    let mut raw = ClientBody {
        inner: req.body_reader(),
        failed: None,
    };
    let mut plan = match form {
        Some(bytes) => Plan::Buffered(forwarded_form(bytes)),
        None if has_body => Plan::Raw,
        None => Plan::Empty,
    };
    let mut head = Vec::new();
    if parse_xml {
        let mut body = XmlBody::new(&mut raw);
        match body.root() {
            Ok(root) => match from_xml(&root, registered) {
                Ok(r) => body_ows = Some(r),
                Err(e) => return refuse(mode, &e),
            },
            Err(f) => return refuse(mode, &fault_error(&f)),
        }
        if body_ows.as_ref().is_some_and(OwsRequest::is_public) {
            if let Err(e) = (&mut body).take(PUBLIC_XML_MAX + 1).read_to_end(&mut head) {
                let f = body.fault().cloned().unwrap_or(Fault::Io(e.to_string()));
                return refuse(mode, &fault_error(&f));
            }
            if head.len() as u64 > PUBLIC_XML_MAX
                || !ampersands_only_in_references(&head)
                || !no_processing_instruction(&head)
            {
                body_ows = None;
            }
        }
        plan = Plan::Xml(body);
    }

    // A body not read as an OWS request could still be one to the backend, and so could
    // one /ows/verify never gets to see.
    let body_unjudged = body_ows.is_none() && (has_body || unseen_body);
    // OWS reads with GET and POST; a PUT, PATCH or DELETE is something else to the
    // backend, whatever its query says.
    let writes = front.writes
        || matches!(method, Method::Put | Method::Patch | Method::Delete)
        || overridden;
    let class = classify(
        extra.is_empty() && !body_unjudged && !writes && !off_dispatch,
        query_ows.as_ref(),
        body_ows.as_ref(),
    );
    let ows = body_ows.or(query_ows);
    let mut grant = None;
    let decision = decide(
        app.settings.ows_security,
        auth,
        class,
        cert_verified,
        |scope| {
            app.authorize(token.as_deref(), scope)
                .map(|g| grant = Some(g))
        },
    );
    if let Err(r) = decision {
        return refusal(mode, r);
    }
    if mode == Mode::Verify {
        let allowed = Response::json(
            200,
            &json!({"description": "Access to service is allowed.", "access": true}),
        );
        // For nginx's `auth_request_set`, as oauth2-proxy's `--set-xauthrequest`.
        return match grant.as_ref().and_then(identity) {
            Some((user, scope)) => allowed
                .header("X-Auth-Request-User", user)
                .header("X-Auth-Request-Scope", scope),
            None => allowed,
        };
    }
    // Let through by a credential: from here its body's reads keep the place (an
    // anonymous one still gives it up while waiting on its client, see `gate`).
    if grant.is_some() || cert_verified {
        super::gate::keep_place();
    }
    let mut headers = headers;
    if app.settings.proxy.pass_identity
        && let Some((user, scope)) = grant.as_ref().and_then(identity)
    {
        headers.push(("X-Forwarded-User".into(), user));
        headers.push(("X-Forwarded-Scope".into(), scope));
    }

    let wps_operation = ows.as_ref().is_some_and(|r| r.service == ServiceType::Wps);
    let sent_as = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let told = sent_as("X-Forwarded-Proto").zip(sent_as("X-Forwarded-Host"));
    let to = Target {
        method: method.as_str(),
        url: &url,
        headers,
        verify_tls: service.verify,
    };
    let sent = match plan {
        Plan::Xml(mut body) => {
            let r = app.upstream.send(
                to,
                Outbody::Reader {
                    reader: &mut io::Cursor::new(head).chain(&mut body),
                    length,
                },
            );
            if r.is_err()
                && let Some(f) = body.fault()
            {
                return refuse(mode, &fault_error(f));
            }
            r
        }
        Plan::Buffered(bytes) => {
            let n = bytes.len() as u64;
            let mut cursor = io::Cursor::new(bytes);
            app.upstream.send(
                to,
                Outbody::Reader {
                    reader: &mut cursor,
                    length: Some(n),
                },
            )
        }
        Plan::Raw => {
            let r = app.upstream.send(
                to,
                Outbody::Reader {
                    reader: &mut raw,
                    length,
                },
            );
            match raw.failed {
                Some(io::ErrorKind::FileTooLarge) if r.is_err() => {
                    return refuse(mode, &fault_error(&Fault::TooLarge));
                }
                Some(_) if r.is_err() => {
                    return refuse(
                        mode,
                        &fault_error(&Fault::Io("the request body could not be read".into())),
                    );
                }
                _ => r,
            }
        }
        Plan::Empty => app.upstream.send(to, Outbody::None),
    };
    let incoming = match sent {
        Ok(i) => i,
        Err(f) => return refuse(mode, &failure_error(name, f)),
    };
    respond(app, &service, incoming, method, wps_operation, told)
}

/// Public only when something was asked and everything asked is public: a
/// GetCapabilities query does not open an Execute body.
fn classify(judged: bool, query: Option<&OwsRequest>, body: Option<&OwsRequest>) -> Class {
    let public = |r: Option<&OwsRequest>| r.is_none_or(OwsRequest::is_public);
    if judged && (query.is_some() || body.is_some()) && public(query) && public(body) {
        Class::PublicOperation
    } else {
        Class::Protected
    }
}

/// A URL for a header, where only ASCII may go: bytes beyond it percent-encoded (a
/// backend's raw UTF-8 path, or a `purl` with an internationalised host, which WHATWG
/// URL parsers such as browsers' decode; others may need the host's `xn--` form in
/// the `purl`). None when it is ASCII already.
fn percent_encode_non_ascii(url: &[u8]) -> Option<Vec<u8>> {
    if url.is_ascii() {
        return None;
    }
    let mut out = Vec::with_capacity(url.len() + 16);
    for &b in url {
        if b.is_ascii() {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    Some(out)
}

fn body_error(e: super::http::BodyError) -> OwsError {
    match e {
        super::http::BodyError::TooLarge(_) => fault_error(&Fault::TooLarge),
        super::http::BodyError::Io(e) => fault_error(&Fault::Io(e.to_string())),
    }
}

fn fault_error(f: &Fault) -> OwsError {
    match f {
        Fault::TooLarge => OwsError::other(
            413,
            "NoApplicableCode",
            "The request body is larger than the limit",
        ),
        Fault::Invalid(m) => OwsError::other(
            400,
            "NoApplicableCode",
            format!("The request body is not acceptable XML: {m}"),
        ),
        Fault::Io(m) => OwsError::other(
            400,
            "NoApplicableCode",
            format!("The request body could not be read: {m}"),
        ),
    }
}

fn failure_error(name: &str, f: Failure) -> OwsError {
    match f {
        Failure::Timeout => {
            log::warn(&format!(
                "service {name}: the backend did not answer in time"
            ));
            OwsError::other(
                504,
                "NoApplicableCode",
                format!("Service {name} did not answer in time"),
            )
        }
        Failure::Unreachable(m) => {
            log::warn(&format!(
                "service {name}: the backend cannot be reached: {m}"
            ));
            OwsError::other(
                502,
                "NoApplicableCode",
                format!("Service {name} cannot be reached"),
            )
        }
        Failure::BadRequest(m) => OwsError::other(400, "NoApplicableCode", m),
    }
}

/// Who a token let through, as header values: its client id and its scopes; None when
/// they cannot be header values (a foreign issuer's odd `azp`).
fn identity(g: &Grant) -> Option<(String, String)> {
    let scopes = g.scopes.join(" ");
    (valid_header_value(g.client_id.as_bytes()) && valid_header_value(scopes.as_bytes()))
        .then(|| (g.client_id.clone(), scopes))
}

/// What /ows/verify is told of the client's request beside its own. nginx's auth_request
/// asks with a GET without body whatever the client sent; the README's set-up names the
/// client's method in X-Original-Method, tagged when it came with a body ("GET with a
/// body"), and Caddy's forward_auth sends X-Forwarded-Method. A method named there can
/// only make the check stricter, so a client's own such header gains nothing.
struct FrontSays {
    /// Every method named reads without a body: the query says it all.
    bodiless: bool,
    /// A method named is none of the ones OWS reads with (a PUT, a tagged GET, ...).
    writes: bool,
}

impl FrontSays {
    const NOTHING: FrontSays = FrontSays {
        bodiless: true,
        writes: false,
    };
}

fn front_says(req: &Request) -> FrontSays {
    let mut says = FrontSays::NOTHING;
    for m in req
        .header_values("X-Original-Method")
        .chain(req.header_values("X-Forwarded-Method"))
    {
        says.bodiless &= matches!(m, "GET" | "HEAD" | "OPTIONS");
        says.writes |= !matches!(m, "GET" | "HEAD" | "OPTIONS" | "POST");
    }
    says
}

/// Whether a method-override header names a method OWS does not read with.
fn overrides_method(req: &Request) -> bool {
    req.header_pairs()
        .any(|(k, v)| METHOD_OVERRIDES.iter().any(|h| same_name(k, h)) && !reads_like_ows(v))
}

/// At most `limit` bytes of `r`. `read_to_end` would zero its whole spare capacity
/// before every read; this zeroes only what it reads into, sized by the expected length.
fn read_up_to(r: &mut impl Read, limit: u64, expected: Option<u64>) -> io::Result<Vec<u8>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    // One byte more than expected, so the end shows without growing the buffer.
    let mut size = expected
        .and_then(|n| usize::try_from(n).ok())
        .map_or(16 * 1024, |n| n.saturating_add(1))
        .min(limit);
    let mut doc = Vec::new();
    let mut filled = 0;
    loop {
        if filled == doc.len() {
            if doc.len() >= size {
                if size >= limit {
                    break;
                }
                size = size.saturating_mul(2).min(limit);
            }
            doc.resize(size, 0);
        }
        match r.read(&mut doc[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    doc.truncate(filled);
    Ok(doc)
}

/// The service's own bases first (its URL, and that URL as the backend may write it
/// from the forwarded headers), so that they win over another service registered with
/// the same URL, then every other registered one.
fn rewrite_order<'a>(
    own: Option<&'a Base>,
    forwarded: Option<&'a Base>,
    all: &'a [Named],
    service: &Service,
) -> Vec<&'a Base> {
    own.into_iter()
        .chain(forwarded)
        .chain(
            all.iter()
                .filter(|n| n.service.name != service.name)
                .map(|n| &n.base),
        )
        .collect()
}

/// The backend's answer on its way to the client: XML, JSON and HTML have the backend's
/// URLs rewritten (whole within the size cap, as they stream beyond it); everything
/// else streams as it comes. `told`: the
/// `X-Forwarded-Proto` and `-Host` the backend was sent.
fn respond(
    app: &App,
    service: &Service,
    incoming: Incoming,
    method: Method,
    wps_operation: bool,
    told: Option<(String, String)>,
) -> Response {
    let text = |name: &str| {
        incoming
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
    };
    // A final 1xx (a 101 to a request that asked for no upgrade) would leave the
    // client waiting on a connection that no longer speaks HTTP to it, and 600 and up
    // are no HTTP status at all.
    if !(200..=599).contains(&incoming.status) {
        log::warn(&format!(
            "service {}: refused the backend's status {}",
            service.name, incoming.status
        ));
        let e = OwsError::other(
            502,
            "NoApplicableCode",
            format!(
                "Service {} answered with status {}, which cannot be passed on",
                service.name, incoming.status
            ),
        );
        return refuse(Mode::Proxy, &e);
    }
    let content_type = text("content-type").unwrap_or_default();
    if wps_operation
        && !content_type.is_empty()
        && !WPS_CONTENT_TYPES.contains(&essence(&content_type).as_str())
    {
        log::warn(&format!(
            "service {}: refused a WPS response of type {content_type}",
            service.name
        ));
        let e = OwsError::other(
            502,
            "NoApplicableCode",
            format!("Content type is not allowed: {content_type}."),
        );
        return refuse(Mode::Proxy, &e);
    }
    let registered = OnceCell::new();
    // Only when the service is not in the snapshot (the registry could not be read).
    let own_fallback = OnceCell::new();
    let forwarded = OnceCell::new();
    let bases = OnceCell::new();
    let bases = || {
        bases.get_or_init(|| {
            let all = registered.get_or_init(|| app.rewrite_bases.current(app));
            let named = all.iter().find(|n| n.service.name == service.name);
            let own = named.map(|n| &n.base).or_else(|| {
                own_fallback
                    .get_or_init(|| Base::new(&service.url, &public_url(app, service)))
                    .as_ref()
            });
            let forwarded = forwarded
                .get_or_init(|| {
                    let (proto, host) = told.as_ref()?;
                    match named {
                        Some(n) => n.forwarded(app, proto, host),
                        None => forwarded_base(app, service, proto, host).map(Arc::new),
                    }
                })
                .as_deref();
            rewrite_order(own, forwarded, all, service)
        })
    };
    let encoded =
        text("content-encoding").is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    // Written out as they came, but for the URLs in Location and Link headers.
    let mut lines = Vec::with_capacity(512);
    for (k, v) in response_headers(&incoming.headers) {
        let name = k.as_str();
        let rewritten = match name {
            "location" | "content-location" | "link" => {
                let url = rewrite(v.as_bytes(), bases(), Form::Plain);
                percent_encode_non_ascii(url.as_deref().unwrap_or(v.as_bytes())).or(url)
            }
            _ => None,
        };
        let value = rewritten.as_deref().unwrap_or(v.as_bytes());
        if valid_header_value(value) {
            push_header_line(&mut lines, name, value);
        } else {
            log::warn(&format!(
                "service {}: dropped the backend's invalid {name} header",
                service.name
            ));
        }
    }
    let mut resp = Response::new(incoming.status);
    resp.header_lines = lines;
    let bodiless = method == Method::Head || matches!(incoming.status, 204 | 304);
    let cap = app.settings.proxy.rewrite_max_size;
    let mut reader = incoming.body.into_reader();
    let rewritable = body_form(&content_type).filter(|_| !encoded && incoming.status != 206);
    // A part of a document (206) cannot be rewritten: its Content-Range would no longer
    // match. A HEAD answer's length is the unrewritten one: left out, not passed on.
    let form = rewritable.filter(|_| !bodiless);
    if let Some(form) = form {
        // Over the cap: rewritten as it streams, so its length is not known. Passed on
        // unchanged, it would lead clients (and their tokens) to the backend.
        let streamed = |reader, head| {
            let owned = bases().iter().map(|b| (*b).clone()).collect();
            Body::Stream {
                reader: Box::new(Rewriting::new(reader, owned, form, head)),
                length: None,
            }
        };
        if incoming.length.is_some_and(|n| n > cap) {
            return resp.with_body(streamed(reader, Vec::new()));
        }
        match read_up_to(&mut reader, cap + 1, incoming.length) {
            Ok(doc) if doc.len() as u64 <= cap => {
                let out = rewrite(&doc, bases(), form).unwrap_or(doc);
                return resp.with_body(Body::Bytes(out));
            }
            Ok(doc) => return resp.with_body(streamed(reader, doc)),
            Err(e) if silent_too_long(&e) => {
                return refuse(Mode::Proxy, &failure_error(&service.name, Failure::Timeout));
            }
            Err(e) => {
                log::warn(&format!(
                    "service {}: reading the backend's answer failed: {e}",
                    service.name
                ));
                let err = OwsError::other(
                    502,
                    "NoApplicableCode",
                    format!("Service {} sent a broken answer", service.name),
                );
                return refuse(Mode::Proxy, &err);
            }
        }
    }
    let length = if method == Method::Head && rewritable.is_some() {
        None
    } else if bodiless {
        Some(incoming.length.unwrap_or(0))
    } else {
        incoming.length
    };
    resp.with_body(Body::Stream {
        reader: Box::new(reader),
        length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::bearer::Denied;

    #[test]
    fn reading_up_to_a_limit() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        for (limit, expected) in [
            (1_000_000, Some(100_000)),
            (1_000_000, None),
            (50_001, None),
            (10, Some(100_000)),
            (1, Some(0)),
        ] {
            let got = read_up_to(&mut &data[..], limit, expected).unwrap();
            let want = data.len().min(limit as usize);
            assert_eq!(got, data[..want], "{limit} {expected:?}");
        }
        assert!(read_up_to(&mut &b""[..], 5, Some(0)).unwrap().is_empty());
    }

    #[test]
    fn wps_allow_list_has_no_glued_entries() {
        for t in WPS_CONTENT_TYPES {
            assert_eq!(t.matches('/').count(), 1, "{t}");
        }
    }

    #[test]
    fn denial_challenges() {
        let r = refusal(Mode::Proxy, Refusal::Token(Denied::Missing));
        assert_eq!(r.status, 401);
        assert_eq!(
            r.get_header("WWW-Authenticate"),
            Some(
                "Bearer realm=\"twitcher\", error=\"invalid_token\", \
                 error_description=\"no access token was given\""
            )
        );
        let r = refusal(Mode::Verify, Refusal::Token(Denied::InsufficientScope));
        assert_eq!(r.status, 403);
        assert_eq!(refusal(Mode::Verify, Refusal::Certificate).status, 403);
    }
}
