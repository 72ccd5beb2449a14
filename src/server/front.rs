//! The front page, version information, and the OpenAPI document with its explorer.

use serde_json::{Value, json};

use super::app::App;
use super::http::{Request, Response};
use super::routes::Params;
use crate::config::{Derived, Raw};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn frontpage(app: &App, _: &mut Request, _: &Params) -> Response {
    let u = &app.url;
    let s = &app.settings;
    let owsproxy = s
        .ows_proxy
        .then(|| format!("{u}{}/proxy", s.ows_proxy_protected_path));
    Response::json(
        200,
        &json!({
            "message": "Twitcher Frontpage",
            "information_uri": format!("{u}/info"),
            "versions_uri": format!("{u}/versions"),
            "services_uri": format!("{u}/services"),
            "client_uri": format!("{u}/oauth/client"),
            "token_uri": format!("{u}/oauth/token"),
            "openapi_uri": format!("{u}/__api__"),
            "owsproxy_uri": owsproxy,
        }),
    )
}

pub fn info(_: &App, _: &mut Request, _: &Params) -> Response {
    Response::json(
        200,
        &json!({
            "author": "twitcher contributors",
            "doc": "Security Proxy for OGC Services like WPS.",
            "email": "",
            "package": "twitcher",
            "version": VERSION,
        }),
    )
}

pub fn versions(_: &App, _: &mut Request, _: &Params) -> Response {
    Response::json(
        200,
        &json!([
            {"name": "Twitcher", "version": VERSION, "type": "application"},
            {"name": "default", "version": VERSION, "type": "adapter"},
        ]),
    )
}

pub fn openapi(app: &App, _: &mut Request, _: &Params) -> Response {
    Response::bytes(200, "application/json", app.openapi.clone())
}

pub fn api_explorer(_: &App, _: &mut Request, _: &Params) -> Response {
    Response::bytes(
        200,
        "text/html; charset=utf-8",
        include_str!("api_explorer.html"),
    )
    .header(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
    )
}

/// `GET /stats`: traffic since start, for the TUI.
pub fn stats(app: &App, _: &mut Request, _: &Params) -> Response {
    Response::json(200, &app.stats.snapshot())
}

/// `GET /settings`: the effective settings, for the TUI's server tab.
pub fn settings(app: &App, _: &mut Request, _: &Params) -> Response {
    Response::bytes(200, "application/json", app.settings_report.clone())
}

/// The body of `GET /settings`: each key with its shown value (secrets masked, as
/// `config check` shows them) and where the value came from.
pub fn settings_report(raw: &Raw, derived: &[Derived]) -> Value {
    let rows: Vec<Value> = raw
        .report(derived)
        .into_iter()
        .map(|(key, value, source)| json!({"key": key, "value": value, "source": source}))
        .collect();
    json!({
        "config_file": raw.config_file.as_ref().map(|f| f.display().to_string()),
        "settings": rows,
    })
}

/// `GET /metrics`: the same counters for Prometheus.
pub fn metrics(app: &App, _: &mut Request, _: &Params) -> Response {
    Response::bytes(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        app.stats.prometheus(),
    )
}

/// `GET /healthz`: the process answers.
pub fn healthz(_: &App, _: &mut Request, _: &Params) -> Response {
    Response::json(200, &json!({"status": "ok"}))
}

/// `GET /readyz`: the store answers too, so a load balancer may send traffic.
pub fn readyz(app: &App, _: &mut Request, _: &Params) -> Response {
    match app.store.get_meta("ready-probe") {
        Ok(_) => Response::json(200, &json!({"status": "ok"})),
        Err(e) => Response::json(
            503,
            &json!({"status": "unavailable", "reason": e.to_string()}),
        ),
    }
}
