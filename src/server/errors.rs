//! JSON error responses of the REST API, in the `{"status": "error", "errors": [...]}`
//! shape that Twitcher's cornice validation uses, so one shape covers every error.

use serde_json::json;

use super::http::{BodyError, Response};
use crate::auth::bearer::{self, Denied};
use crate::registry::FieldError;
use crate::store::StoreError;

pub fn fields(status: u16, errors: &[FieldError]) -> Response {
    Response::json(status, &json!({"status": "error", "errors": errors}))
}

pub fn one(
    status: u16,
    location: &'static str,
    name: &str,
    description: impl Into<String>,
) -> Response {
    let e = FieldError {
        location,
        name: name.to_string(),
        description: description.into(),
    };
    fields(status, &[e])
}

pub fn unauthorized() -> Response {
    one(
        401,
        "header",
        "Authorization",
        "Admin credentials (HTTP Basic) are missing or wrong",
    )
    .header("WWW-Authenticate", BASIC_CHALLENGE)
}

/// The admin password's hash checks are taken in turns, and this request's did not come
/// within its wait: many wrong passwords are being tried at once.
pub fn password_checks_busy() -> Response {
    one(
        429,
        "header",
        "Authorization",
        "Too many admin password checks at once; retry in a moment",
    )
    .header("Retry-After", "1")
}

/// A bearer token refused on an admin route: 401 when missing or invalid, with both
/// schemes the route accepts as challenges, or 403 when it lacks the scope.
pub fn bearer_denied(denied: &Denied, scope: &str) -> Response {
    let r = one(
        denied.status(),
        "header",
        "Authorization",
        denied.description(scope),
    );
    let r = if denied.status() == 401 {
        r.header("WWW-Authenticate", BASIC_CHALLENGE)
    } else {
        r
    };
    r.header("WWW-Authenticate", bearer::challenge(denied, scope))
}

pub const BASIC_CHALLENGE: &str = "Basic realm=\"twitcher\", charset=\"UTF-8\"";

pub fn body(e: BodyError) -> Response {
    match e {
        BodyError::TooLarge(limit) => one(
            413,
            "body",
            "",
            format!("Request body larger than the limit of {limit} bytes"),
        ),
        BodyError::Io(err) => one(
            400,
            "body",
            "",
            format!("Could not read the request body: {err}"),
        ),
    }
}

pub fn store(e: StoreError) -> Response {
    match e {
        StoreError::Busy => {
            one(503, "store", "", "The database is busy; try again").header("Retry-After", "1")
        }
        StoreError::Other(m) => {
            crate::log::error(&format!("store: {m}"));
            one(500, "store", "", "Internal storage error")
        }
    }
}

pub fn internal(request_id: &str) -> Response {
    one(
        500,
        "server",
        "",
        format!("Internal server error (request id {request_id})"),
    )
}

/// Requests that arrive on open connections once a shutdown has begun.
pub fn shutting_down() -> Response {
    one(503, "server", "", "The server is shutting down").header("Retry-After", "5")
}
