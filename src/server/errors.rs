//! JSON error responses of the REST API, in the `{"status": "error", "errors": [...]}`
//! shape that Twitcher's cornice validation uses, so one shape covers every error.

use serde_json::json;

use super::http::{BodyError, Response};
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

pub fn not_found(path: &str) -> Response {
    one(404, "url", "", format!("Not Found: {path}"))
}

pub fn method_not_allowed(method: &str, allow: &str) -> Response {
    one(
        405,
        "method",
        "",
        format!("The method {method} is not allowed for this resource"),
    )
    .header("Allow", allow)
}

pub fn unauthorized() -> Response {
    one(
        401,
        "header",
        "Authorization",
        "Admin credentials (HTTP Basic) are missing or wrong",
    )
    .header(
        "WWW-Authenticate",
        "Basic realm=\"twitcher\", charset=\"UTF-8\"",
    )
}

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
