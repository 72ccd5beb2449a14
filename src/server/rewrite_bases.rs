//! The backend URLs rewritten in the proxy's answers, each with the public URL that
//! stands for it: made once per registry snapshot rather than for every answer, where
//! a registry of many services cost a few allocations per service per request.

use std::sync::{Arc, RwLock};

use super::app::App;
use crate::log;
use crate::ows::rewrite::Base;
use crate::registry::{PATH_SEGMENT, Service};

pub struct Named {
    pub name: String,
    pub base: Base,
}

type Built = (Arc<[Arc<Service>]>, Arc<[Named]>);

#[derive(Default)]
pub struct RewriteBases {
    /// The snapshot the bases were made from, compared by pointer.
    cached: RwLock<Option<Built>>,
}

impl RewriteBases {
    /// Every registered service's base, for the registry as it is now.
    pub fn current(&self, app: &App) -> Arc<[Named]> {
        let services = match app.services.all() {
            Ok(s) => s,
            Err(e) => {
                log::warn(&format!(
                    "only a service's own URLs are rewritten, the registry could not be read: {e}"
                ));
                return Arc::new([]);
            }
        };
        if let Ok(c) = self.cached.read()
            && let Some((from, bases)) = c.as_ref()
            && Arc::ptr_eq(from, &services)
        {
            return bases.clone();
        }
        let bases: Arc<[Named]> = services
            .iter()
            .filter_map(|s| {
                let base = Base::new(&s.url, &public_url(app, s))?;
                Some(Named {
                    name: s.name.clone(),
                    base,
                })
            })
            .collect();
        if let Ok(mut c) = self.cached.write() {
            *c = Some((services, bases.clone()));
        }
        bases
    }
}

/// `purl` when it is set, else this proxy's URL for the service.
pub fn public_url(app: &App, service: &Service) -> String {
    if !service.purl.is_empty() {
        service.purl.trim_end_matches('/').to_string()
    } else {
        format!(
            "{}{}/proxy/{}",
            app.url,
            app.settings.ows_proxy_protected_path,
            percent_encoding::utf8_percent_encode(&service.name, PATH_SEGMENT)
        )
    }
}
