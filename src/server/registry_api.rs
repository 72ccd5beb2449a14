//! `/services` and `/services/{name}`: the registry's REST API, wire-compatible with
//! Twitcher 0.11 (transcripts 07-35).

use serde_json::Value;

use super::app::App;
use super::errors;
use super::http::{Request, Response};
use super::routes::Params;
use crate::registry;
use crate::store::Page;

/// Largest page a listing returns at once.
const MAX_LIMIT: u64 = 10_000;

fn page(req: &Request) -> Result<Page, Response> {
    let mut page = Page::ALL;
    for (k, v) in req.query_pairs() {
        let n = v.trim().parse::<u64>();
        match (k.as_str(), n) {
            ("limit", Ok(n)) if (1..=MAX_LIMIT).contains(&n) => page.limit = Some(n),
            ("limit", _) => {
                return Err(errors::one(
                    400,
                    "querystring",
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                ));
            }
            ("offset", Ok(n)) => page.offset = n,
            ("offset", _) => {
                return Err(errors::one(
                    400,
                    "querystring",
                    "offset",
                    "must be a whole number from 0",
                ));
            }
            _ => {}
        }
    }
    Ok(page)
}

pub fn list(app: &App, req: &mut Request, _: &Params) -> Response {
    let page = match page(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match app.store.list_services(page) {
        Ok(services) => Response::json(200, &services),
        Err(e) => errors::store(e),
    }
}

/// `POST /services`: registers a service, or updates the one of the same name. With
/// `If-None-Match: *` (RFC 9110 §13.1.2) it only creates, and a taken name gets 412: a
/// client that picked a free name from a listing must not replace a service registered
/// in between.
pub fn register(app: &App, req: &mut Request, _: &Params) -> Response {
    let create_only = req.header("If-None-Match") == Some("*");
    let body = match req.read_body() {
        Ok(b) => b,
        Err(e) => return errors::body(e),
    };
    // Twitcher's own client posts JSON without a Content-Type, so none is required.
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return errors::one(
                400,
                "body",
                "",
                format!("Invalid JSON (the body is a JSON object of the service's fields): {e}"),
            );
        }
    };
    let service = match registry::service_from_body(&value) {
        Ok(s) => s,
        Err(errs) => return errors::fields(400, &errs),
    };
    let saved = if create_only {
        app.store.create_service(&service)
    } else {
        app.store.save_service(&service).map(|()| true)
    };
    app.services.invalidate();
    match saved {
        Ok(true) => {
            for doubt in registry::doubts(&service.kind, &service.auth) {
                crate::log::warn(&format!("service {}: {doubt}", service.name));
            }
            Response::json(200, &service)
        }
        Ok(false) => errors::one(
            412,
            "header",
            "If-None-Match",
            format!("A service named {} is already registered", service.name),
        ),
        Err(e) => errors::store(e),
    }
}

pub fn clear(app: &App, req: &mut Request, _: &Params) -> Response {
    // `/services/` is a client that meant `/services/{name}` and lost the name; only the
    // collection's own path clears it.
    if req.path.ends_with('/') {
        return errors::one(
            404,
            "path",
            "name",
            "No service name given; DELETE /services clears them all",
        );
    }
    let cleared = app.store.clear_services();
    app.services.invalidate();
    match cleared {
        Ok(_) => Response::json(200, &true),
        Err(e) => errors::store(e),
    }
}

pub fn get(app: &App, _: &mut Request, params: &Params) -> Response {
    let name = params.get("name");
    match app.store.get_service(name) {
        Ok(Some(s)) => Response::json(200, &s),
        Ok(None) => errors::one(404, "path", "name", format!("No service named {name}")),
        Err(e) => errors::store(e),
    }
}

/// Answers `false` (not 404) for an unknown name, as Twitcher does; its client and
/// `twitcherctl unregister` rely on a 200.
pub fn unregister(app: &App, _: &mut Request, params: &Params) -> Response {
    let deleted = app.store.delete_service(params.get("name"));
    app.services.invalidate();
    match deleted {
        Ok(found) => Response::json(200, &found),
        Err(e) => errors::store(e),
    }
}
