//! The network side of the TUI: a thread that owns a [`Client`], takes requests over a
//! channel and sends the results back, so the UI loop never waits on the network.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::client::{
    self, CapabilitiesCheck, Client, ClientInfo, Credentials, Health, Introspection, NewClient,
    NewService, Service, SettingsReport, Stats, Token, TokenEndpoint, TokenRequest,
};

type Result<T> = std::result::Result<T, client::Error>;

/// What the UI asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Services,
    Service(String),
    /// Registers, or updates the service of that name; no name picks an unused one.
    Register {
        service: NewService,
        update: bool,
    },
    Unregister(String),
    Clear,
    Check {
        name: String,
        kind: String,
    },
    Clients,
    AddClient {
        name: String,
        redirect_uri: String,
        scopes: Vec<String>,
    },
    RemoveClient(String),
    /// The client-credentials grant at this server, or at `token_url` (Keycloak, any
    /// OAuth2 server) as `twitcherctl gentoken --token-url` asks.
    Token {
        client_id: String,
        client_secret: String,
        scopes: Vec<String>,
        token_url: Option<String>,
    },
    Revoke(String),
    Introspect(String),
    /// Other admin credentials, after the server refused the ones given; every worker
    /// gets it and answers.
    SignIn(Credentials),
    Stats,
    Server,
}

/// What the Server tab shows; the parts after `info` fail on their own.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub info: client::Info,
    pub latency: Duration,
    pub versions: Result<Vec<client::Version>>,
    pub settings: Result<SettingsReport>,
    pub health: Result<Health>,
    pub readiness: Result<Health>,
}

/// A request's outcome, naming what it was about.
#[derive(Debug, Clone)]
pub enum Reply {
    Services(Result<Vec<Service>>),
    Service(Result<Service>),
    Registered {
        update: bool,
        result: Result<Service>,
    },
    Unregistered(String, Result<bool>),
    Cleared(Result<bool>),
    Checked(String, Result<CapabilitiesCheck>),
    Clients(Result<Vec<ClientInfo>>),
    ClientAdded(Result<NewClient>),
    ClientRemoved(String, Result<bool>),
    Token {
        client_id: String,
        client_secret: String,
        result: Result<Token>,
    },
    Revoked(String, Result<()>),
    Introspected(String, Result<Introspection>),
    /// `at` is when the answer came, as time since the TUI started.
    Stats {
        at: Duration,
        result: Result<Stats>,
    },
    Server(Result<Box<ServerInfo>>),
    /// A worker uses these credentials from now on; the user name.
    SignedIn(String),
}

/// Why a generated name cannot be had; the registry is full of them.
fn no_free_name() -> client::Error {
    client::Error::Refused {
        status: 409,
        message: "every generated name is taken: give a name".to_string(),
    }
}

pub struct Worker {
    client: Client,
    started: Instant,
    /// The OWS proxy's path, from the front page, once known.
    proxy_path: Option<String>,
}

impl Worker {
    pub fn new(client: Client, started: Instant) -> Worker {
        Worker {
            client,
            started,
            proxy_path: None,
        }
    }

    /// Serves requests until their channel closes or `reply` says the UI is gone.
    pub fn run(mut self, requests: Receiver<Request>, reply: impl Fn(Reply) -> bool) {
        while let Ok(req) = requests.recv() {
            if !reply(self.handle(req)) {
                return;
            }
        }
    }

    fn handle(&mut self, req: Request) -> Reply {
        let c = &self.client;
        match req {
            Request::Services => Reply::Services(c.list_services()),
            Request::Service(name) => Reply::Service(c.get_service(&name)),
            Request::Register { service, update } => {
                let result = if service.name.is_empty() {
                    crate::ctl::names::register_generated(c, service)
                        .and_then(|s| s.ok_or_else(no_free_name))
                } else {
                    c.register_service(&service)
                };
                Reply::Registered { update, result }
            }
            Request::Unregister(name) => {
                let r = c.unregister_service(&name);
                Reply::Unregistered(name, r)
            }
            Request::Clear => Reply::Cleared(c.clear_services()),
            Request::Check { name, kind } => {
                let r = self.check(&name, &kind);
                Reply::Checked(name, r)
            }
            Request::Clients => Reply::Clients(c.list_clients()),
            Request::AddClient {
                name,
                redirect_uri,
                scopes,
            } => Reply::ClientAdded(c.add_client(&name, &redirect_uri, &scopes)),
            Request::RemoveClient(id) => {
                let r = c.remove_client(&id);
                Reply::ClientRemoved(id, r)
            }
            Request::Token {
                client_id,
                client_secret,
                scopes,
                token_url,
            } => {
                let result = c.fetch_token(&TokenRequest {
                    endpoint: token_url.map_or(TokenEndpoint::Twitcher, TokenEndpoint::Url),
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    scopes,
                });
                Reply::Token {
                    client_id,
                    client_secret,
                    result,
                }
            }
            Request::Revoke(token) => {
                let r = c.revoke(&token);
                Reply::Revoked(token, r)
            }
            Request::Introspect(token) => {
                let r = c.introspect(&token);
                Reply::Introspected(token, r)
            }
            Request::Stats => {
                let result = c.stats();
                Reply::Stats {
                    at: self.started.elapsed(),
                    result,
                }
            }
            Request::Server => Reply::Server(self.server().map(Box::new)),
            Request::SignIn(credentials) => {
                let name = credentials.username.clone();
                self.client.set_credentials(Some(credentials));
                Reply::SignedIn(name)
            }
        }
    }

    fn check(&mut self, name: &str, kind: &str) -> Result<CapabilitiesCheck> {
        let path = match &self.proxy_path {
            Some(p) => p.clone(),
            None => {
                let path = self.client.frontpage()?.proxy_path().ok_or_else(|| {
                    client::Error::Refused {
                        status: 404,
                        message: "the OWS proxy is off on this server (twitcher.ows_proxy)"
                            .to_string(),
                    }
                })?;
                self.proxy_path = Some(path.clone());
                path
            }
        };
        self.client.check_capabilities(&path, name, kind)
    }

    fn server(&self) -> Result<ServerInfo> {
        let c = &self.client;
        let start = Instant::now();
        let info = c.info()?;
        let latency = start.elapsed();
        Ok(ServerInfo {
            info,
            latency,
            versions: c.versions(),
            settings: c.settings(),
            health: c.health(),
            readiness: c.readiness(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worker asks create-only with a generated name, and tries another on 412, as
    /// twitcherctl does.
    #[test]
    fn a_generated_name_is_registered_only_while_free() {
        let (url, posts) = crate::test_support::registry_taking_the_first_name();
        let client = Client::new(crate::client::Settings {
            base_url: url,
            credentials: None,
            insecure: false,
            timeout: Duration::from_secs(10),
        })
        .unwrap();
        let reply = Worker::new(client, Instant::now()).handle(Request::Register {
            service: NewService {
                name: String::new(),
                url: "http://h/wps".into(),
                kind: "wps".into(),
                purl: String::new(),
                auth: "token".into(),
                verify: true,
            },
            update: false,
        });
        let posts = posts.lock().unwrap().clone();
        assert_eq!(posts.len(), 2, "{posts:?}");
        assert!(
            posts.iter().all(|(_, p)| p.as_deref() == Some("*")),
            "{posts:?}"
        );
        assert_ne!(posts[0].0, posts[1].0);
        match reply {
            Reply::Registered { result: Ok(s), .. } => assert_eq!(s.name, posts[1].0),
            other => panic!("{other:?}"),
        }
    }
}
