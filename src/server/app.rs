//! Everything a handler may need, built once at start-up and shared by all workers.

use std::sync::Arc;

use super::errors;
use super::http::Request;
use super::http::Response;
use crate::auth::admin::AdminAuth;
use crate::config::Settings;
use crate::store::Store;

pub struct App {
    pub settings: Settings,
    /// Public base URL, without a trailing slash.
    pub url: String,
    pub store: Arc<dyn Store>,
    /// None when `twitcher.basicauth = false`.
    pub admin: Option<AdminAuth>,
    /// Serialised OpenAPI document.
    pub openapi: Vec<u8>,
}

impl App {
    /// Lets the request through when it carries the admin's credentials.
    pub fn require_admin(&self, req: &Request) -> Result<(), Response> {
        match &self.admin {
            None => Ok(()),
            Some(auth) if auth.check(req.header("Authorization")) => Ok(()),
            Some(_) => Err(errors::unauthorized()),
        }
    }
}
