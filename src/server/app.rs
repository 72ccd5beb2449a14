//! Everything a handler may need, built once at start-up and shared by all workers.

use std::sync::Arc;

use super::errors;
use super::http::Request;
use super::http::Response;
use super::rewrite_bases::RewriteBases;
use crate::auth::admin::parse_basic;
use crate::auth::admin::{AdminAuth, AdminCheck};
use crate::auth::bearer::{Denied, Grant, token_from};
use crate::auth::tokens::TokenService;
use crate::config::Settings;
use crate::proxy::upstream::Upstream;
use crate::store::Store;
use crate::store::cache::ServiceCache;

/// The scope that opens the registry API in place of the admin's password.
pub const REGISTER_SCOPE: &str = "register";

pub struct App {
    pub settings: Settings,
    /// Public base URL, without a trailing slash.
    pub url: String,
    pub store: Arc<dyn Store>,
    /// The registry as the proxy reads it; the registry API drops it on every change.
    pub services: ServiceCache,
    /// What the proxy rewrites in answers, made again when the registry changes.
    pub rewrite_bases: RewriteBases,
    pub upstream: Upstream,
    pub stats: super::stats::Stats,
    /// None when `twitcher.basicauth = false`.
    pub admin: Option<AdminAuth>,
    pub tokens: TokenService,
    /// Serialised OpenAPI document.
    pub openapi: Vec<u8>,
    /// Serialised `GET /settings`: the effective settings, secrets masked, as
    /// `config check` prints them.
    pub settings_report: Vec<u8>,
    /// This process's name in `Via` (RFC 9110 §7.6.3): a request that already passed
    /// it came back round a loop of registrations.
    pub via_name: String,
}

impl App {
    /// Checks a bearer token for `scope` (none when empty): one path for every token kind.
    pub fn authorize(&self, token: Option<&str>, scope: &str) -> Result<Grant, Denied> {
        self.tokens.authorize(token, scope)
    }

    /// Lets the request through when it carries the admin's credentials or, with OAuth
    /// on, a bearer token with scope `register` (header or `access_token` parameter).
    pub fn require_registry(&self, req: &Request) -> Result<(), Response> {
        let basic = req
            .header("Authorization")
            .is_some_and(|h| parse_basic(h).is_some());
        if self.admin.is_some()
            && self.settings.oauth
            && !basic
            && let Some(token) = token_from(req, None)
        {
            return match self.authorize(Some(&token), REGISTER_SCOPE) {
                Ok(_) => Ok(()),
                Err(denied) => Err(errors::bearer_denied(&denied, REGISTER_SCOPE)),
            };
        }
        self.require_password(req)
    }

    /// Lets the request through only with the admin's own credentials (HTTP Basic).
    pub fn require_password(&self, req: &Request) -> Result<(), Response> {
        match &self.admin {
            None => Ok(()),
            Some(auth) => match auth.check(req.header("Authorization")) {
                AdminCheck::Pass => Ok(()),
                AdminCheck::Fail => Err(errors::unauthorized()),
                AdminCheck::Busy => Err(errors::password_checks_busy()),
            },
        }
    }
}
