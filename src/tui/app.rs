//! The TUI's state and what every key and every answer does to it. Plain Rust with no
//! terminal and no network: [`App::update`] takes a message and returns the requests to
//! send, so all of it is tested directly.

use std::collections::HashMap;
use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::claims::{self, Decoded};
use super::form::{Form, Outcome};
use super::traffic::Traffic;
use super::worker::{Reply, Request, ServerInfo};
use crate::client::{self, CapabilitiesCheck, ClientInfo, Introspection, Service};

/// How often the traffic counters are polled.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Services,
    Clients,
    Tokens,
    Traffic,
    Server,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Services,
        Tab::Clients,
        Tab::Tokens,
        Tab::Traffic,
        Tab::Server,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Services => "Services",
            Tab::Clients => "Clients",
            Tab::Tokens => "Tokens",
            Tab::Traffic => "Traffic",
            Tab::Server => "Server",
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// Time as the UI loop sees it: since start (for rates and the spinner) and the wall
/// clock (for token expiry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    pub since_start: Duration,
    pub unix: u64,
}

/// Everything the UI loop hands to [`App::update`].
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Tick(Clock),
    Reply(Reply),
    /// The terminal changed size; the next draw fits itself.
    Resize,
    /// Ctrl-Z or SIGTSTP: the loop hands the terminal back and stops until continued.
    Suspend,
    /// SIGTERM, SIGHUP, SIGINT or SIGQUIT, or the terminal's input ended.
    Quit,
}

/// Keys and what they do, per screen: the footer and the help overlay both read these.
pub type Keys = &'static [(&'static str, &'static str)];

pub const KEYS_GLOBAL: Keys = &[
    ("Tab S-Tab 1-5", "switch tab"),
    ("↑↓ jk", "move"),
    ("PgUp PgDn g G", "page, first, last"),
    ("?", "help"),
    ("q", "quit"),
    ("Esc", "clear the filter, else quit"),
    ("Ctrl-C", "quit at once"),
    ("Ctrl-Z", "suspend; fg brings it back"),
    ("P", "sign in again (another password)"),
];
/// What the footer shows of [`KEYS_GLOBAL`], at its end.
const FOOTER_TABS: (&str, &str) = ("Tab S-Tab 1-5", "switch tab");
const FOOTER_MOVE: (&str, &str) = ("↑↓ jk", "move");
const FOOTER_HELP: (&str, &str) = ("?", "help");
const FOOTER_QUIT: (&str, &str) = ("q", "quit");
pub const KEYS_SERVICES: Keys = &[
    ("Enter", "details"),
    ("a", "register"),
    ("e", "edit"),
    ("d/Del", "unregister"),
    ("c", "check backend"),
    ("C", "clear all"),
    ("/", "filter"),
    ("r", "refresh"),
];
pub const KEYS_CLIENTS: Keys = &[
    ("Enter", "details"),
    ("a", "add"),
    ("d/Del", "delete"),
    ("t", "issue a token"),
    ("/", "filter"),
    ("r", "refresh"),
];
pub const KEYS_TOKENS: Keys = &[
    ("a", "issue"),
    ("Enter", "introspect"),
    ("i", "introspect a pasted token"),
    ("d/Del", "revoke"),
];
pub const KEYS_TRAFFIC: Keys = &[];
pub const KEYS_SERVER: Keys = &[("r", "refresh"), ("↑↓ jk", "move in the settings")];
pub const KEYS_FILTER: Keys = &[
    ("type", "filter"),
    ("↑↓", "move"),
    ("Enter", "keep filter"),
    ("Esc", "clear filter"),
];
pub const KEYS_FORM: Keys = &[
    ("Tab ↓/S-Tab ↑", "next/previous field"),
    ("← → Space", "change a choice or switch"),
    ("Ctrl-U", "clear a field"),
    ("Enter", "submit"),
    ("Esc", "cancel"),
];
pub const KEYS_CONFIRM: Keys = &[("y", "yes"), ("n Esc", "no")];
pub const KEYS_POPUP: Keys = &[("Enter Esc q", "close")];
pub const KEYS_HELP: Keys = &[
    ("↑↓ jk PgUp PgDn", "scroll"),
    ("any other key", "close help"),
];

/// The help overlay's sections.
pub const HELP: &[(&str, Keys)] = &[
    ("Everywhere", KEYS_GLOBAL),
    ("Services", KEYS_SERVICES),
    ("Clients", KEYS_CLIENTS),
    ("Tokens", KEYS_TOKENS),
    ("Server", KEYS_SERVER),
    ("Filter", KEYS_FILTER),
    ("Forms", KEYS_FORM),
    ("Confirmations", KEYS_CONFIRM),
    ("Popups", KEYS_POPUP),
];

/// How many lines the help takes in one column: a title and a blank line per section.
pub fn help_lines() -> u16 {
    let n: usize = HELP.iter().map(|(_, keys)| keys.len() + 2).sum();
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// A list with a filter and a selection within what the filter lets through.
#[derive(Debug, Clone)]
pub struct Table<T> {
    pub items: Vec<T>,
    pub filter: String,
    pub selected: usize,
    /// An answer came once.
    pub loaded: bool,
    /// Why the last load failed.
    pub error: Option<String>,
}

impl<T> Default for Table<T> {
    fn default() -> Table<T> {
        Table {
            items: Vec::new(),
            filter: String::new(),
            selected: 0,
            loaded: false,
            error: None,
        }
    }
}

/// What a filter looks at.
pub trait Filterable {
    fn haystack(&self) -> Vec<&str>;
}

impl Filterable for Service {
    fn haystack(&self) -> Vec<&str> {
        vec![&self.name, &self.url, &self.kind, &self.auth, &self.purl]
    }
}

impl Filterable for ClientInfo {
    fn haystack(&self) -> Vec<&str> {
        let mut h = vec![self.name.as_str(), &self.client_id, &self.redirect_uri];
        h.extend(self.scope.iter().map(String::as_str));
        h
    }
}

impl<T: Filterable> Table<T> {
    /// The items the filter lets through: a case-insensitive substring of any field.
    pub fn visible(&self) -> Vec<&T> {
        let needle = self.filter.to_lowercase();
        self.items
            .iter()
            .filter(|i| {
                needle.is_empty()
                    || i.haystack()
                        .iter()
                        .any(|h| h.to_lowercase().contains(&needle))
            })
            .collect()
    }

    pub fn current(&self) -> Option<&T> {
        self.visible().get(self.selected).copied()
    }

    fn clamp(&mut self) {
        let n = self.visible().len();
        self.selected = self.selected.min(n.saturating_sub(1));
    }

    fn move_by(&mut self, delta: isize) {
        let n = self.visible().len();
        if n == 0 {
            self.selected = 0;
            return;
        }
        self.selected = self.selected.saturating_add_signed(delta).min(n - 1);
    }

    fn set(&mut self, items: Vec<T>) {
        self.items = items;
        self.loaded = true;
        self.error = None;
        self.clamp();
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Issued from this TUI for this client.
    Issued(String),
    Pasted,
}

/// A token this session issued or was given.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    pub token: String,
    pub origin: Origin,
    pub scope: String,
    pub received_at: u64,
    /// Unix seconds, from the claims, `expires_in` or an introspection.
    pub expires_at: Option<u64>,
    /// None: opaque.
    pub claims: Option<Decoded>,
    pub introspection: Option<Result<Introspection, String>>,
    pub revoked: bool,
}

impl TokenEntry {
    /// Seconds left, negative once expired.
    pub fn remaining(&self, now: u64) -> Option<i64> {
        self.expires_at.map(|e| e as i64 - now as i64)
    }

    /// Total lifetime, for the countdown gauge.
    pub fn lifetime(&self) -> Option<u64> {
        let start = self
            .claims
            .as_ref()
            .and_then(|c| c.iat)
            .unwrap_or(self.received_at);
        self.expires_at.map(|e| e.saturating_sub(start))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Done,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub level: Level,
}

/// Whether the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Up,
    Down(String),
    /// The server answers but refuses the admin's credentials.
    Denied,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emphasis {
    Plain,
    Strong,
    Warning,
    /// The secret itself: shown once.
    Secret,
}

/// A box of text over the screen: details, or a secret shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Popup {
    pub title: String,
    pub lines: Vec<(Emphasis, String)>,
}

/// A question before a change that cannot be undone.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub question: String,
    pub on_yes: Request,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    /// The help, scrolled down this many lines (it may not fit a small terminal).
    Help(u16),
    Form(Form),
    Confirm(Confirm),
    Popup(Popup),
}

/// The last GetCapabilities check of a service.
pub type CheckResult = Result<CapabilitiesCheck, String>;

pub struct App {
    /// For display only: a password in the URL is masked.
    pub server_url: String,
    pub username: String,
    pub tab: Tab,
    pub overlay: Overlay,
    /// Keys go to the current tab's filter.
    pub filtering: bool,
    pub services: Table<Service>,
    pub clients: Table<ClientInfo>,
    pub tokens: Vec<TokenEntry>,
    pub token_selected: usize,
    /// Secrets of clients added (or used) in this session, by client id; memory only.
    pub secrets: HashMap<String, String>,
    pub checks: HashMap<String, CheckResult>,
    pub traffic: Traffic,
    pub server: Option<Result<ServerInfo, String>>,
    /// The settings row selected on the Server tab; the table scrolls to it.
    pub setting_selected: usize,
    pub status: Option<Status>,
    pub link: Link,
    pub clock: Clock,
    /// Requests sent and not answered yet, polls aside.
    pub pending: usize,
    polling: bool,
    last_poll: Option<Duration>,
    /// A service (by name) or client (by id) to select once the list that holds it comes.
    select_after: Option<String>,
    select_client_after: Option<String>,
    /// Answers still to come from workers taking other credentials (each sign-in goes
    /// to both). Until they are in, a 401 may be the old credentials'.
    signing_in: u8,
    pub quit: bool,
}

fn plain(key: &KeyEvent) -> bool {
    !key.modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

/// Errors that mean the server did not answer at all.
fn unreachable(e: &client::Error) -> bool {
    matches!(
        e,
        client::Error::Unreachable { .. }
            | client::Error::Timeout { .. }
            | client::Error::Tls { .. }
    )
}

impl App {
    pub fn new(server_url: &str, username: &str) -> App {
        App {
            server_url: crate::client::mask_url(server_url),
            username: username.to_string(),
            tab: Tab::Services,
            overlay: Overlay::None,
            filtering: false,
            services: Table::default(),
            clients: Table::default(),
            tokens: Vec::new(),
            token_selected: 0,
            secrets: HashMap::new(),
            checks: HashMap::new(),
            traffic: Traffic::default(),
            server: None,
            setting_selected: 0,
            status: None,
            link: Link::Connecting,
            clock: Clock::default(),
            pending: 0,
            polling: false,
            last_poll: None,
            select_after: None,
            select_client_after: None,
            signing_in: 0,
            quit: false,
        }
    }

    /// The first requests: everything the tabs show.
    pub fn start(&mut self) -> Vec<Request> {
        self.info(format!("connecting to {}", self.server_url));
        self.send(vec![Request::Services, Request::Clients, Request::Server])
    }

    fn info(&mut self, text: String) {
        self.status = Some(Status {
            text,
            level: Level::Info,
        });
    }

    fn done(&mut self, text: String) {
        self.status = Some(Status {
            text,
            level: Level::Done,
        });
    }

    fn error(&mut self, text: String) {
        self.status = Some(Status {
            text,
            level: Level::Error,
        });
    }

    /// Counts requests as pending; polls are not, they come by themselves.
    fn send(&mut self, reqs: Vec<Request>) -> Vec<Request> {
        for r in &reqs {
            match r {
                Request::Stats => {
                    self.polling = true;
                    self.last_poll = Some(self.clock.since_start);
                }
                // Both workers take it, and each answers.
                Request::SignIn(_) => {
                    self.pending += 2;
                    self.signing_in = self.signing_in.saturating_add(2);
                }
                _ => self.pending += 1,
            }
        }
        reqs
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Request> {
        match msg {
            Msg::Key(k) if k.kind != KeyEventKind::Release => {
                let reqs = self.on_key(k);
                self.send(reqs)
            }
            Msg::Key(_) | Msg::Resize | Msg::Suspend => Vec::new(),
            Msg::Paste(text) => {
                if let Overlay::Form(f) = &mut self.overlay {
                    f.paste(&text);
                } else if self.filtering {
                    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
                    self.filter_mut().push_str(clean.trim());
                    self.refilter();
                }
                Vec::new()
            }
            Msg::Tick(clock) => {
                self.clock = clock;
                let due = self
                    .last_poll
                    .is_none_or(|t| clock.since_start.saturating_sub(t) >= POLL_EVERY);
                if due && !self.polling {
                    self.send(vec![Request::Stats])
                } else {
                    Vec::new()
                }
            }
            Msg::Reply(r) => {
                let reqs = self.on_reply(r);
                self.send(reqs)
            }
            Msg::Quit => {
                self.quit = true;
                Vec::new()
            }
        }
    }

    /// The keys that work now, for the footer.
    pub fn keys(&self) -> Vec<(&'static str, &'static str)> {
        let own: Keys = match &self.overlay {
            Overlay::Help(_) => return KEYS_HELP.to_vec(),
            Overlay::Form(_) => return KEYS_FORM.to_vec(),
            Overlay::Confirm(_) => return KEYS_CONFIRM.to_vec(),
            Overlay::Popup(_) => return KEYS_POPUP.to_vec(),
            Overlay::None if self.filtering => return KEYS_FILTER.to_vec(),
            Overlay::None => match self.tab {
                Tab::Services => KEYS_SERVICES,
                Tab::Clients => KEYS_CLIENTS,
                Tab::Tokens => KEYS_TOKENS,
                Tab::Traffic => KEYS_TRAFFIC,
                Tab::Server => KEYS_SERVER,
            },
        };
        let mut keys = own.to_vec();
        keys.push(FOOTER_TABS);
        if matches!(self.tab, Tab::Services | Tab::Clients | Tab::Tokens) {
            keys.push(FOOTER_MOVE);
        }
        keys.extend([FOOTER_HELP, FOOTER_QUIT]);
        keys
    }

    fn filter_mut(&mut self) -> &mut String {
        match self.tab {
            Tab::Clients => &mut self.clients.filter,
            _ => &mut self.services.filter,
        }
    }

    fn has_filter(&self) -> bool {
        match self.tab {
            Tab::Services => !self.services.filter.is_empty(),
            Tab::Clients => !self.clients.filter.is_empty(),
            _ => false,
        }
    }

    fn move_by(&mut self, delta: isize) {
        match self.tab {
            Tab::Services => self.services.move_by(delta),
            Tab::Clients => self.clients.move_by(delta),
            Tab::Tokens => {
                let n = self.tokens.len();
                self.token_selected = self
                    .token_selected
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
            }
            Tab::Server => {
                let n = match &self.server {
                    Some(Ok(i)) => i.settings.as_ref().map_or(0, |r| r.settings.len()),
                    _ => 0,
                };
                self.setting_selected = self
                    .setting_selected
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
            }
            Tab::Traffic => {}
        }
    }

    fn refilter(&mut self) {
        self.services.clamp();
        self.clients.clamp();
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Request> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Vec::new();
        }
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::None => {}
            Overlay::Help(top) => {
                let last = help_lines().saturating_sub(1);
                let scrolled = match key.code {
                    KeyCode::Up | KeyCode::Char('k') => Some(top.saturating_sub(1)),
                    KeyCode::Down | KeyCode::Char('j') => Some(top.saturating_add(1).min(last)),
                    KeyCode::PageUp => Some(top.saturating_sub(10)),
                    KeyCode::PageDown => Some(top.saturating_add(10).min(last)),
                    _ => None,
                };
                if let Some(top) = scrolled {
                    self.overlay = Overlay::Help(top);
                }
                return Vec::new();
            }
            Overlay::Popup(p) => {
                if !matches!(key.code, KeyCode::Enter | KeyCode::Esc | KeyCode::Char('q')) {
                    self.overlay = Overlay::Popup(p);
                }
                return Vec::new();
            }
            Overlay::Confirm(c) => {
                return match key.code {
                    KeyCode::Char('y' | 'Y') => {
                        self.info(doing(&c.on_yes));
                        vec![c.on_yes]
                    }
                    KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                        self.info("cancelled".into());
                        Vec::new()
                    }
                    _ => {
                        self.overlay = Overlay::Confirm(c);
                        Vec::new()
                    }
                };
            }
            Overlay::Form(mut f) => {
                return match f.on_key(key) {
                    Outcome::Stay => {
                        if f.tried && !f.valid() {
                            self.error("fix the marked fields".into());
                        }
                        self.overlay = Overlay::Form(f);
                        Vec::new()
                    }
                    Outcome::Cancel => {
                        self.info("cancelled".into());
                        Vec::new()
                    }
                    Outcome::Submit => match f.request() {
                        Some(req) => {
                            self.on_submit(&req);
                            vec![req]
                        }
                        None => {
                            self.overlay = Overlay::Form(f);
                            Vec::new()
                        }
                    },
                };
            }
        }
        if self.filtering {
            match key.code {
                KeyCode::Enter => self.filtering = false,
                KeyCode::Esc => {
                    self.filtering = false;
                    self.filter_mut().clear();
                }
                KeyCode::Backspace => {
                    self.filter_mut().pop();
                }
                KeyCode::Up => self.move_by(-1),
                KeyCode::Down => self.move_by(1),
                KeyCode::Char(c) if plain(&key) => self.filter_mut().push(c),
                _ => {}
            }
            self.refilter();
            return Vec::new();
        }
        if !plain(&key) {
            return Vec::new();
        }
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Esc if self.has_filter() => {
                self.filter_mut().clear();
                self.refilter();
            }
            KeyCode::Esc => self.quit = true,
            KeyCode::Tab => self.tab = Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()],
            KeyCode::BackTab => {
                self.tab = Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
            }
            KeyCode::Char(c @ '1'..='5') => self.tab = Tab::ALL[c as usize - '1' as usize],
            KeyCode::Char('?') => self.overlay = Overlay::Help(0),
            KeyCode::Char('P') => {
                self.overlay = Overlay::Form(Form::sign_in(&self.username, false))
            }
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-10),
            KeyCode::PageDown => self.move_by(10),
            KeyCode::Home | KeyCode::Char('g') => self.move_by(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_by(isize::MAX / 2),
            KeyCode::Char('/') if matches!(self.tab, Tab::Services | Tab::Clients) => {
                self.filtering = true;
            }
            _ => {
                return match self.tab {
                    Tab::Services => self.services_key(key.code),
                    Tab::Clients => self.clients_key(key.code),
                    Tab::Tokens => self.tokens_key(key.code),
                    Tab::Server if key.code == KeyCode::Char('r') => {
                        self.info("refreshing server information".into());
                        vec![Request::Server]
                    }
                    Tab::Traffic | Tab::Server => Vec::new(),
                };
            }
        }
        Vec::new()
    }

    fn services_key(&mut self, code: KeyCode) -> Vec<Request> {
        let current = self.services.current().cloned();
        match (code, current) {
            (KeyCode::Char('r'), _) => {
                self.info("refreshing services".into());
                return vec![Request::Services];
            }
            (KeyCode::Char('a'), _) => self.overlay = Overlay::Form(Form::register()),
            (KeyCode::Char('C'), _) if !self.services.items.is_empty() => {
                self.overlay = Overlay::Confirm(Confirm {
                    question: format!(
                        "Remove EVERY service ({} registered)?",
                        self.services.items.len()
                    ),
                    on_yes: Request::Clear,
                });
            }
            (KeyCode::Enter, Some(s)) => {
                self.info(format!("getting service {}", s.name));
                return vec![Request::Service(s.name)];
            }
            (KeyCode::Char('e'), Some(s)) => self.overlay = Overlay::Form(Form::edit(&s)),
            (KeyCode::Char('d') | KeyCode::Delete, Some(s)) => {
                self.overlay = Overlay::Confirm(Confirm {
                    question: format!("Unregister service {} ({})?", s.name, s.url),
                    on_yes: Request::Unregister(s.name),
                });
            }
            (KeyCode::Char('c'), Some(s)) => {
                self.info(format!(
                    "checking {}: GetCapabilities through the proxy",
                    s.name
                ));
                return vec![Request::Check {
                    name: s.name,
                    kind: s.kind,
                }];
            }
            _ => {}
        }
        Vec::new()
    }

    fn clients_key(&mut self, code: KeyCode) -> Vec<Request> {
        let current = self.clients.current().cloned();
        match (code, current) {
            (KeyCode::Char('r'), _) => {
                self.info("refreshing clients".into());
                return vec![Request::Clients];
            }
            (KeyCode::Char('a'), _) => self.overlay = Overlay::Form(Form::add_client()),
            (KeyCode::Enter, Some(c)) => {
                let known = self.secrets.contains_key(&c.client_id);
                self.overlay = Overlay::Popup(Popup {
                    title: format!("Client {}", c.name),
                    lines: vec![
                        (Emphasis::Plain, format!("Name:          {}", c.name)),
                        (Emphasis::Strong, format!("Client ID:     {}", c.client_id)),
                        (
                            Emphasis::Plain,
                            format!("Redirect URI:  {}", c.redirect_uri),
                        ),
                        (
                            Emphasis::Plain,
                            format!("Scopes:        {}", c.scope.join(" ")),
                        ),
                        (
                            Emphasis::Plain,
                            format!("Created:       {}", super::fmt::utc(c.created_at)),
                        ),
                        (
                            Emphasis::Plain,
                            format!(
                                "Secret:        {}",
                                if known {
                                    "known to this session (t issues a token without asking)"
                                } else {
                                    "stored hashed on the server; t asks for it"
                                }
                            ),
                        ),
                    ],
                });
            }
            (KeyCode::Char('d') | KeyCode::Delete, Some(c)) => {
                self.overlay = Overlay::Confirm(Confirm {
                    question: format!(
                        "Delete client {} ({}) and every token it holds?",
                        c.name, c.client_id
                    ),
                    on_yes: Request::RemoveClient(c.client_id),
                });
            }
            (KeyCode::Char('t'), Some(c)) => {
                let secret = self.secrets.get(&c.client_id).map(String::as_str);
                self.overlay = Overlay::Form(Form::issue_token(&c.client_id, secret));
            }
            _ => {}
        }
        Vec::new()
    }

    fn tokens_key(&mut self, code: KeyCode) -> Vec<Request> {
        let current = self.tokens.get(self.token_selected).cloned();
        match (code, current) {
            (KeyCode::Char('a'), _) => {
                let id = self
                    .clients
                    .current()
                    .map(|c| c.client_id.clone())
                    .unwrap_or_default();
                let secret = self.secrets.get(&id).map(String::as_str);
                self.overlay = Overlay::Form(Form::issue_token(&id, secret));
            }
            (KeyCode::Char('i'), _) => self.overlay = Overlay::Form(Form::introspect()),
            (KeyCode::Enter, Some(t)) => {
                self.info("introspecting the token".into());
                return vec![Request::Introspect(t.token)];
            }
            (KeyCode::Char('d') | KeyCode::Delete, Some(t)) => {
                self.overlay = Overlay::Confirm(Confirm {
                    question: format!("Revoke the {} token of {}?", t.scope, origin_name(&t)),
                    on_yes: Request::Revoke(t.token),
                });
            }
            _ => {}
        }
        Vec::new()
    }

    /// A form's request is on its way: say so, and keep what the answer will not tell.
    fn on_submit(&mut self, req: &Request) {
        match req {
            Request::Register { service, update } => {
                let what = if *update { "updating" } else { "registering" };
                let name = if service.name.is_empty() {
                    "a new service"
                } else {
                    &service.name
                };
                self.info(format!("{what} {name}"));
            }
            Request::AddClient { .. } => self.info("adding the client".into()),
            Request::Token { client_id, .. } => {
                self.info(format!("asking a token for {client_id}"));
            }
            Request::Introspect(token) => {
                self.tab = Tab::Tokens;
                let i = self.entry(token, Origin::Pasted, "");
                self.token_selected = i;
                self.info("introspecting the token".into());
            }
            _ => {}
        }
    }

    /// The index of the entry for `token`, added when new.
    fn entry(&mut self, token: &str, origin: Origin, scope: &str) -> usize {
        if let Some(i) = self.tokens.iter().position(|t| t.token == token) {
            return i;
        }
        let claims = claims::decode(token);
        let scope = claims
            .as_ref()
            .and_then(|c| c.claims.iter().find(|(k, _)| k == "scope"))
            .map_or(scope.to_string(), |(_, v)| v.clone());
        self.tokens.push(TokenEntry {
            token: token.to_string(),
            origin,
            scope,
            received_at: self.clock.unix,
            expires_at: claims.as_ref().and_then(|c| c.exp),
            claims,
            introspection: None,
            revoked: false,
        });
        self.tokens.len() - 1
    }

    fn on_reply(&mut self, reply: Reply) -> Vec<Request> {
        if let Reply::Stats { .. } = reply {
            self.polling = false;
        } else {
            self.pending = self.pending.saturating_sub(1);
        }
        let was_denied = self.link == Link::Denied;
        let mut next = match self.note_link(&reply) {
            true => vec![Request::Services, Request::Clients, Request::Server],
            false => Vec::new(),
        };
        match reply {
            Reply::SignedIn(name) => next.extend(self.on_signed_in(name)),
            Reply::Stats { at, result } => match result {
                Ok(s) => self.traffic.record(at, s),
                Err(e) => self.traffic.error = Some(e.to_string()),
            },
            Reply::Services(r) => match r {
                Ok(list) => {
                    self.services.set(list);
                    if let Some(name) = self.select_after.take() {
                        self.select_service(&name);
                    }
                }
                Err(e) => {
                    self.services.error = Some(e.to_string());
                    self.error(e.to_string());
                }
            },
            Reply::Clients(r) => match r {
                Ok(list) => {
                    self.clients.set(list);
                    if let Some(id) = self.select_client_after.take() {
                        if !self.clients.visible().iter().any(|c| c.client_id == id) {
                            self.clients.filter.clear();
                        }
                        if let Some(i) = self
                            .clients
                            .visible()
                            .iter()
                            .position(|c| c.client_id == id)
                        {
                            self.clients.selected = i;
                        }
                    }
                }
                Err(e) => {
                    self.clients.error = Some(e.to_string());
                    self.error(e.to_string());
                }
            },
            Reply::Server(r) => {
                self.server = Some(r.map(|b| *b).map_err(|e| e.to_string()));
                if let Some(Err(e)) = &self.server {
                    self.error(e.clone());
                }
            }
            Reply::Service(r) => match r {
                Ok(s) => {
                    self.done(format!("service {}", s.name));
                    let mut lines = vec![
                        (Emphasis::Strong, format!("Name:        {}", s.name)),
                        (Emphasis::Plain, format!("URL:         {}", s.url)),
                        (Emphasis::Plain, format!("Type:        {}", s.kind)),
                        (Emphasis::Plain, format!("Public URL:  {}", s.purl)),
                        (Emphasis::Plain, format!("Auth:        {}", s.auth)),
                        (Emphasis::Plain, format!("Public:      {}", s.public)),
                        (Emphasis::Plain, format!("Verify TLS:  {}", s.verify)),
                    ];
                    if let Some(c) = self.checks.get(&s.name) {
                        lines.push((Emphasis::Plain, String::new()));
                        lines.push((Emphasis::Strong, format!("Last check:  {}", check_line(c))));
                    }
                    self.overlay = Overlay::Popup(Popup {
                        title: format!("Service {}", s.name),
                        lines,
                    });
                }
                Err(e) => self.error(e.to_string()),
            },
            Reply::Registered { update, result } => match result {
                Ok(s) => {
                    let verb = if update { "updated" } else { "registered" };
                    self.done(format!("{verb} service {} ({})", s.name, s.url));
                    self.select_after = Some(s.name);
                    next.push(Request::Services);
                }
                Err(e) => self.error(e.to_string()),
            },
            Reply::Unregistered(name, r) => match r {
                Ok(true) => {
                    self.done(format!("unregistered service {name}"));
                    self.checks.remove(&name);
                    next.push(Request::Services);
                }
                Ok(false) => {
                    self.error(format!("no service named {name}"));
                    next.push(Request::Services);
                }
                Err(e) => self.error(e.to_string()),
            },
            Reply::Cleared(r) => match r {
                Ok(_) => {
                    self.done("removed every service".into());
                    self.checks.clear();
                    next.push(Request::Services);
                }
                Err(e) => self.error(e.to_string()),
            },
            Reply::Checked(name, r) => {
                let r = r.map_err(|e| e.to_string());
                let line = check_line(&r);
                match &r {
                    Ok(c) if (200..300).contains(&c.status) => self.done(format!("{name}: {line}")),
                    _ => self.error(format!("{name}: {line}")),
                }
                self.checks.insert(name, r);
            }
            Reply::ClientAdded(r) => match r {
                Ok(c) => {
                    self.done(format!("added client {} ({})", c.name, c.client_id));
                    self.secrets
                        .insert(c.client_id.clone(), c.client_secret.clone());
                    self.overlay = Overlay::Popup(secret_popup(&c));
                    self.select_client_after = Some(c.client_id);
                    next.push(Request::Clients);
                }
                Err(e) => self.error(e.to_string()),
            },
            Reply::ClientRemoved(id, r) => match r {
                Ok(true) => {
                    self.done(format!("deleted client {id} and its tokens"));
                    self.secrets.remove(&id);
                    for t in &mut self.tokens {
                        if t.origin == Origin::Issued(id.clone()) {
                            t.revoked = true;
                        }
                    }
                    next.push(Request::Clients);
                }
                Ok(false) => {
                    self.error(format!("no client with id {id}"));
                    next.push(Request::Clients);
                }
                Err(e) => self.error(e.to_string()),
            },
            Reply::Token {
                client_id,
                client_secret,
                result,
            } => match result {
                Ok(t) => {
                    self.secrets.insert(client_id.clone(), client_secret);
                    let scope = t.scope.clone().unwrap_or_default();
                    let i = self.entry(&t.access_token, Origin::Issued(client_id.clone()), &scope);
                    if let (None, Some(secs)) = (self.tokens[i].expires_at, t.expires_in) {
                        self.tokens[i].expires_at = Some(self.clock.unix + secs);
                    }
                    self.token_selected = i;
                    self.tab = Tab::Tokens;
                    self.done(format!("issued a {scope} token for {client_id}"));
                }
                Err(e) => self.error(e.to_string()),
            },
            Reply::Revoked(token, r) => match r {
                Ok(()) => {
                    if let Some(t) = self.tokens.iter_mut().find(|t| t.token == token) {
                        t.revoked = true;
                    }
                    self.done("revoked the token; introspecting it again".into());
                    next.push(Request::Introspect(token));
                }
                Err(e) => self.error(e.to_string()),
            },
            Reply::Introspected(token, r) => {
                let i = self.entry(&token, Origin::Pasted, "");
                let t = &mut self.tokens[i];
                match &r {
                    Ok(info) => {
                        if t.expires_at.is_none() {
                            t.expires_at = info.exp;
                        }
                        if t.scope.is_empty() {
                            t.scope = info.scope.clone().unwrap_or_default();
                        }
                        let active = if info.active { "active" } else { "not active" };
                        self.done(format!("the token is {active}"));
                    }
                    Err(e) => self.error(e.to_string()),
                }
                self.tokens[i].introspection = Some(r.map_err(|e| e.to_string()));
            }
        }
        // Said once, over the request's own error, with a form to give another.
        if self.link == Link::Denied && !was_denied {
            self.error(format!(
                "{} refuses the password of {}: enter another (P)",
                self.server_url, self.username
            ));
            // Not under a filter being typed: its keys would go into the password.
            if matches!(self.overlay, Overlay::None) && !self.filtering {
                self.overlay = Overlay::Form(Form::sign_in(&self.username, true));
            }
        }
        next
    }

    /// A worker uses other credentials. On the first of a sign-in's two answers,
    /// everything the tabs show is asked again (the actions worker takes the credentials
    /// before those requests). Each worker answers its sign-ins in order, so the last
    /// answer names the credentials in use.
    fn on_signed_in(&mut self, name: String) -> Vec<Request> {
        let first = self.signing_in.is_multiple_of(2);
        self.signing_in = self.signing_in.saturating_sub(1);
        self.username = name;
        if !first {
            return Vec::new();
        }
        self.info(format!("signing in as {}", self.username));
        self.link = Link::Connecting;
        vec![Request::Services, Request::Clients, Request::Server]
    }

    /// Records an answer's word on the link; true when the server is back after being
    /// unreachable, so the tabs load again.
    fn note_link(&mut self, reply: &Reply) -> bool {
        // The answer's error, and whether the request carried the admin's credentials
        // (`/info`, checks through the proxy and the OAuth calls do not: a 401 there is
        // about a client's credentials or a token).
        let (err, admin) = match reply {
            // Said by a worker, not the server.
            Reply::SignedIn(_) => return false,
            Reply::Stats { result, .. } => (result.as_ref().err(), true),
            Reply::Services(r) => (r.as_ref().err(), true),
            Reply::Service(r) => (r.as_ref().err(), true),
            Reply::Registered { result, .. } => (result.as_ref().err(), true),
            Reply::Unregistered(_, r) => (r.as_ref().err(), true),
            Reply::Cleared(r) => (r.as_ref().err(), true),
            Reply::Clients(r) => (r.as_ref().err(), true),
            Reply::ClientAdded(r) => (r.as_ref().err(), true),
            Reply::ClientRemoved(_, r) => (r.as_ref().err(), true),
            Reply::Server(r) => (r.as_ref().err(), false),
            Reply::Checked(_, r) => (r.as_ref().err(), false),
            Reply::Token { result, .. } => (result.as_ref().err(), false),
            Reply::Revoked(_, r) => (r.as_ref().err(), false),
            Reply::Introspected(_, r) => (r.as_ref().err(), false),
        };
        match err {
            Some(e) if unreachable(e) => {
                self.link = Link::Down(e.to_string());
                false
            }
            Some(client::Error::Refused { status: 401, .. }) if admin => {
                // While a sign-in is under way it may be the old credentials' answer.
                if self.signing_in == 0 {
                    self.link = Link::Denied;
                }
                false
            }
            // Only an admin request that passes says the credentials are good now.
            _ if !admin && self.link == Link::Denied => false,
            _ => {
                let was = std::mem::replace(&mut self.link, Link::Up);
                match was {
                    Link::Connecting | Link::Denied => {
                        self.done(format!("connected to {}", self.server_url));
                        false
                    }
                    Link::Down(_) => {
                        self.done(format!("{} answers again; reloading", self.server_url));
                        true
                    }
                    Link::Up => false,
                }
            }
        }
    }

    /// Puts the selection on a service, clearing a filter that hides it.
    fn select_service(&mut self, name: &str) {
        if !self.services.visible().iter().any(|s| s.name == name) {
            self.services.filter.clear();
        }
        if let Some(i) = self.services.visible().iter().position(|s| s.name == name) {
            self.services.selected = i;
        }
    }

    /// A frame of the spinner while requests are on their way.
    pub fn spinner(&self) -> Option<char> {
        const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
        (self.pending > 0)
            .then(|| FRAMES[(self.clock.since_start.as_millis() / 100) as usize % FRAMES.len()])
    }
}

/// The status line while a confirmed change is on its way.
fn doing(req: &Request) -> String {
    match req {
        Request::Unregister(name) => format!("unregistering {name}"),
        Request::Clear => "removing every service".to_string(),
        Request::RemoveClient(id) => format!("deleting client {id}"),
        Request::Revoke(_) => "revoking the token".to_string(),
        _ => "working".to_string(),
    }
}

fn origin_name(t: &TokenEntry) -> String {
    match &t.origin {
        Origin::Issued(id) => format!("client {id}"),
        Origin::Pasted => "a pasted token".to_string(),
    }
}

/// One line on a check: status, latency, operations or why not.
pub fn check_line(c: &CheckResult) -> String {
    match c {
        Err(e) => format!("failed: {e}"),
        Ok(c) => {
            let mut s = format!(
                "HTTP {} in {}",
                c.status,
                super::fmt::millis(c.latency.as_secs_f64() * 1000.0)
            );
            if !c.scan.operations.is_empty() {
                s.push_str(&format!(", operations: {}", c.scan.operations.join(" ")));
            } else if let Some(e) = &c.scan.exception {
                s.push_str(&format!(": {e}"));
            } else if c.scan.root.is_empty() {
                s.push_str(", not an XML document");
            } else {
                s.push_str(&format!(", no operations in <{}>", c.scan.root));
            }
            if let Some(e) = &c.scan.error {
                s.push_str(&format!(" ({e})"));
            }
            s
        }
    }
}

fn secret_popup(c: &client::NewClient) -> Popup {
    Popup {
        title: "Client added: copy its secret now".to_string(),
        lines: vec![
            (Emphasis::Plain, format!("Name:          {}", c.name)),
            (Emphasis::Strong, format!("Client ID:     {}", c.client_id)),
            (
                Emphasis::Secret,
                format!("Client secret: {}", c.client_secret),
            ),
            (
                Emphasis::Plain,
                format!("Scopes:        {}", c.scope.join(" ")),
            ),
            (Emphasis::Plain, String::new()),
            (
                Emphasis::Warning,
                "The secret is shown ONLY NOW: the server keeps only its hash.".to_string(),
            ),
            (
                Emphasis::Plain,
                "This session remembers it in memory to issue tokens (t on Clients).".to_string(),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{NewClient, Token};
    use crate::tui::form;

    fn key(code: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn ch(c: char) -> Msg {
        key(KeyCode::Char(c))
    }

    fn press(app: &mut App, keys: &str) -> Vec<Request> {
        keys.chars().flat_map(|c| app.update(ch(c))).collect()
    }

    fn service(name: &str, url: &str) -> Service {
        Service {
            url: url.to_string(),
            name: name.to_string(),
            kind: "wps".into(),
            purl: String::new(),
            auth: "token".into(),
            public: false,
            verify: true,
        }
    }

    fn client_info(name: &str, id: &str) -> ClientInfo {
        ClientInfo {
            name: name.into(),
            client_id: id.into(),
            redirect_uri: String::new(),
            scope: vec!["compute".into()],
            created_at: 1_700_000_000,
        }
    }

    fn app() -> App {
        let mut a = App::new("http://127.0.0.1:8000", "admin");
        let first = a.start();
        assert_eq!(
            first,
            [Request::Services, Request::Clients, Request::Server]
        );
        a.update(Msg::Reply(Reply::Services(Ok(vec![
            service("emu", "http://localhost:5000/wps"),
            service("hummingbird", "http://h/wps"),
            service("finch", "http://other/wms"),
        ]))));
        a.update(Msg::Reply(Reply::Clients(Ok(vec![
            client_info("demo_app", "id-1"),
            client_info("other_app", "id-2"),
        ]))));
        a
    }

    #[test]
    fn tabs_switch_by_tab_digits_and_back_tab() {
        let mut a = app();
        assert_eq!(a.tab, Tab::Services);
        a.update(key(KeyCode::Tab));
        assert_eq!(a.tab, Tab::Clients);
        a.update(key(KeyCode::BackTab));
        a.update(key(KeyCode::BackTab));
        assert_eq!(a.tab, Tab::Server);
        press(&mut a, "3");
        assert_eq!(a.tab, Tab::Tokens);
        press(&mut a, "4");
        assert_eq!(a.tab, Tab::Traffic);
        press(&mut a, "1");
        assert_eq!(a.tab, Tab::Services);
    }

    #[test]
    fn arrows_and_jk_move_within_bounds() {
        let mut a = app();
        press(&mut a, "jj");
        assert_eq!(a.services.current().unwrap().name, "finch");
        press(&mut a, "j");
        assert_eq!(a.services.selected, 2, "stops at the end");
        a.update(key(KeyCode::Up));
        press(&mut a, "kkk");
        assert_eq!(a.services.selected, 0);
        press(&mut a, "G");
        assert_eq!(a.services.selected, 2);
        press(&mut a, "g");
        assert_eq!(a.services.selected, 0);
        // Each tab keeps its own selection.
        press(&mut a, "2j");
        assert_eq!(a.clients.current().unwrap().client_id, "id-2");
        assert_eq!(a.services.selected, 0);
    }

    #[test]
    fn filter_narrows_and_letters_are_text_while_typing() {
        let mut a = app();
        press(&mut a, "j/");
        assert!(a.filtering);
        // q, j, 2 and d are filter text here, not commands.
        assert!(press(&mut a, "wms").is_empty());
        assert!(!a.quit);
        assert_eq!(a.services.filter, "wms");
        let names: Vec<_> = a
            .services
            .visible()
            .iter()
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(names, ["finch"]);
        assert_eq!(
            a.services.selected, 0,
            "the selection stays within the filter"
        );
        a.update(key(KeyCode::Backspace));
        a.update(key(KeyCode::Backspace));
        a.update(key(KeyCode::Backspace));
        press(&mut a, "q2D");
        assert!(!a.quit && a.tab == Tab::Services);
        assert!(a.services.visible().is_empty());
        a.update(key(KeyCode::Esc));
        assert!(!a.filtering && a.services.filter.is_empty());
        assert_eq!(a.services.visible().len(), 3);
        // Enter keeps the filter; Esc outside the filter clears it before quitting.
        press(&mut a, "/HUMMING");
        a.update(key(KeyCode::Enter));
        assert!(!a.filtering);
        assert_eq!(a.services.current().unwrap().name, "hummingbird");
        a.update(key(KeyCode::Esc));
        assert!(!a.quit && a.services.filter.is_empty());
        a.update(key(KeyCode::Esc));
        assert!(a.quit);
    }

    #[test]
    fn clients_filter_on_name_and_id() {
        let mut a = app();
        press(&mut a, "2/id-2");
        assert_eq!(a.clients.visible().len(), 1);
        assert_eq!(a.clients.current().unwrap().name, "other_app");
        a.update(Msg::Paste("x\n".into()));
        assert_eq!(a.clients.filter, "id-2x");
    }

    #[test]
    fn register_through_the_form() {
        let mut a = app();
        press(&mut a, "a");
        assert!(matches!(&a.overlay, Overlay::Form(f) if f.kind == form::Kind::Register));
        assert_eq!(a.keys(), KEYS_FORM.to_vec());
        // Letters go into the form, not to the tab: no quit, no tab switch.
        assert!(press(&mut a, "q1").is_empty());
        assert!(!a.quit && a.tab == Tab::Services);
        a.update(key(KeyCode::Enter));
        let Overlay::Form(f) = &a.overlay else {
            panic!("a wrong form stays open")
        };
        assert_eq!(f.focus, 1, "at the missing URL");
        assert_eq!(a.status.as_ref().unwrap().level, Level::Error);
        a.update(Msg::Paste("http://localhost:5001/wps".into()));
        let reqs = a.update(key(KeyCode::Enter));
        let [Request::Register { service, update }] = reqs.as_slice() else {
            panic!("{reqs:?}")
        };
        assert_eq!(
            (service.name.as_str(), service.url.as_str(), *update),
            ("q1", "http://localhost:5001/wps", false)
        );
        assert_eq!(a.overlay, Overlay::None);
        assert_eq!(a.pending, 2, "the start's Server request, and this one");
        assert!(a.spinner().is_some());
        let next = a.update(Msg::Reply(Reply::Registered {
            update: false,
            result: Ok(service_named("q1")),
        }));
        assert_eq!(next, [Request::Services]);
        assert_eq!(a.status.as_ref().unwrap().level, Level::Done);
        // The list that comes next has it selected.
        let mut list = a.services.items.clone();
        list.insert(0, service_named("q1"));
        a.update(Msg::Reply(Reply::Services(Ok(list))));
        assert_eq!(a.services.current().unwrap().name, "q1");
        assert_eq!(a.pending, 1, "only the start's server request is left");
    }

    fn service_named(n: &str) -> Service {
        service(n, "http://localhost:5001/wps")
    }

    #[test]
    fn edit_prefills_and_updates() {
        let mut a = app();
        press(&mut a, "je");
        let Overlay::Form(f) = &a.overlay else {
            panic!()
        };
        assert_eq!(f.fields[1].value(), "http://h/wps");
        a.update(key(KeyCode::End));
        press(&mut a, "2");
        let reqs = a.update(key(KeyCode::Enter));
        assert_eq!(
            reqs,
            [Request::Register {
                service: client::NewService {
                    name: "hummingbird".into(),
                    url: "http://h/wps2".into(),
                    kind: "wps".into(),
                    purl: String::new(),
                    auth: "token".into(),
                    verify: true,
                },
                update: true,
            }]
        );
    }

    #[test]
    fn unregister_and_clear_ask_first() {
        let mut a = app();
        press(&mut a, "d");
        let Overlay::Confirm(c) = &a.overlay else {
            panic!()
        };
        assert!(c.question.contains("emu"), "{}", c.question);
        assert_eq!(a.keys(), KEYS_CONFIRM.to_vec());
        // Other keys neither confirm nor cancel; n cancels.
        assert!(press(&mut a, "x").is_empty());
        assert!(a.update(key(KeyCode::Enter)).is_empty());
        assert!(matches!(a.overlay, Overlay::Confirm(_)));
        assert!(press(&mut a, "n").is_empty());
        assert_eq!(a.overlay, Overlay::None);
        press(&mut a, "d");
        assert_eq!(press(&mut a, "y"), [Request::Unregister("emu".into())]);
        let next = a.update(Msg::Reply(Reply::Unregistered("emu".into(), Ok(true))));
        assert_eq!(next, [Request::Services]);

        press(&mut a, "C");
        let Overlay::Confirm(c) = &a.overlay else {
            panic!()
        };
        assert!(c.question.contains("EVERY") && c.question.contains('3'));
        a.update(key(KeyCode::Esc));
        assert_eq!(a.overlay, Overlay::None);
        assert!(!a.quit, "Esc closed the dialog only");
        press(&mut a, "C");
        assert_eq!(press(&mut a, "y"), [Request::Clear]);
    }

    #[test]
    fn clear_of_an_empty_registry_asks_nothing() {
        let mut a = app();
        a.update(Msg::Reply(Reply::Services(Ok(vec![]))));
        press(&mut a, "Cdec");
        assert_eq!(a.overlay, Overlay::None);
    }

    #[test]
    fn check_and_details_of_a_service() {
        let mut a = app();
        assert_eq!(
            press(&mut a, "c"),
            [Request::Check {
                name: "emu".into(),
                kind: "wps".into()
            }]
        );
        a.update(Msg::Reply(Reply::Checked(
            "emu".into(),
            Ok(CapabilitiesCheck {
                path: "/ows/proxy/emu?service=WPS&request=GetCapabilities".into(),
                status: 200,
                latency: Duration::from_millis(12),
                content_type: "text/xml".into(),
                bytes: 900,
                scan: crate::ows::capabilities::Scan {
                    root: "Capabilities".into(),
                    operations: vec!["GetCapabilities".into(), "Execute".into()],
                    exception: None,
                    error: None,
                },
            }),
        )));
        let s = a.status.clone().unwrap();
        assert_eq!(s.level, Level::Done);
        assert!(
            s.text.contains("HTTP 200") && s.text.contains("Execute"),
            "{}",
            s.text
        );
        assert_eq!(
            a.update(key(KeyCode::Enter)),
            [Request::Service("emu".into())]
        );
        a.update(Msg::Reply(Reply::Service(Ok(service(
            "emu",
            "http://localhost:5000/wps",
        )))));
        let Overlay::Popup(p) = &a.overlay else {
            panic!()
        };
        assert!(
            p.lines
                .iter()
                .any(|(_, l)| l.contains("Last check") && l.contains("200"))
        );
        a.update(key(KeyCode::Enter));
        assert_eq!(a.overlay, Overlay::None);
        // A failed check is an error, kept for the service.
        a.update(Msg::Reply(Reply::Checked(
            "emu".into(),
            Err(client::Error::Refused {
                status: 404,
                message: "the OWS proxy is off".into(),
            }),
        )));
        assert_eq!(a.status.as_ref().unwrap().level, Level::Error);
        assert!(a.checks["emu"].is_err());
    }

    #[test]
    fn a_check_line_says_what_the_answer_held() {
        let check = |status, root: &str, ops: &[&str], exception: Option<&str>, error| {
            check_line(&Ok(CapabilitiesCheck {
                path: "/ows/proxy/x".into(),
                status,
                latency: Duration::from_micros(2500),
                content_type: "text/xml".into(),
                bytes: 10,
                scan: crate::ows::capabilities::Scan {
                    root: root.into(),
                    operations: ops.iter().map(|o| o.to_string()).collect(),
                    exception: exception.map(str::to_string),
                    error,
                },
            }))
        };
        assert_eq!(
            check(200, "Capabilities", &["GetCapabilities"], None, None),
            "HTTP 200 in 2.50 ms, operations: GetCapabilities"
        );
        assert_eq!(
            check(
                502,
                "ExceptionReport",
                &[],
                Some("Service x cannot be reached"),
                None
            ),
            "HTTP 502 in 2.50 ms: Service x cannot be reached"
        );
        assert_eq!(
            check(200, "", &[], None, None),
            "HTTP 200 in 2.50 ms, not an XML document"
        );
        assert_eq!(
            check(200, "html", &[], None, Some("malformed XML: x".into())),
            "HTTP 200 in 2.50 ms, no operations in <html> (malformed XML: x)"
        );
        assert_eq!(check_line(&Err("boom".into())), "failed: boom");
    }

    #[test]
    fn a_new_client_shows_its_secret_once_and_the_session_keeps_it() {
        let mut a = app();
        press(&mut a, "2a");
        a.update(Msg::Paste("tui_app".into()));
        assert_eq!(
            a.update(key(KeyCode::Enter)),
            [Request::AddClient {
                name: "tui_app".into(),
                redirect_uri: String::new(),
                scopes: vec!["compute".into()],
            }]
        );
        let next = a.update(Msg::Reply(Reply::ClientAdded(Ok(NewClient {
            name: "tui_app".into(),
            client_id: "id-3".into(),
            client_secret: "s3cret".into(),
            redirect_uri: String::new(),
            scope: vec!["compute".into()],
        }))));
        assert_eq!(next, [Request::Clients]);
        let Overlay::Popup(p) = &a.overlay else {
            panic!()
        };
        assert!(
            p.lines
                .contains(&(Emphasis::Secret, "Client secret: s3cret".into()))
        );
        assert!(
            p.lines
                .iter()
                .any(|(e, l)| *e == Emphasis::Warning && l.contains("ONLY NOW"))
        );
        a.update(key(KeyCode::Esc));
        assert_eq!(a.overlay, Overlay::None);
        assert!(!a.quit);
        // The token form for that client comes with the secret filled in.
        a.update(Msg::Reply(Reply::Clients(Ok(vec![client_info(
            "tui_app", "id-3",
        )]))));
        press(&mut a, "t");
        let Overlay::Form(f) = &a.overlay else {
            panic!()
        };
        assert_eq!(f.fields[1].value(), "s3cret");
        assert_eq!(
            a.update(key(KeyCode::Enter)),
            [Request::Token {
                client_id: "id-3".into(),
                client_secret: "s3cret".into(),
                scopes: vec!["compute".into()],
                token_url: None,
            }]
        );
    }

    #[test]
    fn deleting_a_client_asks_and_forgets_its_secret() {
        let mut a = app();
        a.secrets.insert("id-2".into(), "x".into());
        press(&mut a, "2j");
        press(&mut a, "d");
        assert!(matches!(&a.overlay, Overlay::Confirm(c) if c.question.contains("id-2")));
        assert_eq!(press(&mut a, "y"), [Request::RemoveClient("id-2".into())]);
        let next = a.update(Msg::Reply(Reply::ClientRemoved("id-2".into(), Ok(true))));
        assert_eq!(next, [Request::Clients]);
        assert!(!a.secrets.contains_key("id-2"));
        // Without a known secret, the token form asks for it.
        press(&mut a, "t");
        let Overlay::Form(f) = &a.overlay else {
            panic!()
        };
        assert_eq!((f.fields[0].value().as_str(), f.focus), ("id-2", 1));
    }

    fn jwt(exp: u64) -> String {
        use base64::Engine;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.sig",
            e(r#"{"alg":"HS256"}"#),
            e(&format!(
                r#"{{"sub":"id-1","scope":"compute","iat":{},"exp":{exp}}}"#,
                exp - 3600
            ))
        )
    }

    #[test]
    fn an_issued_token_is_decoded_and_counts_down() {
        let mut a = app();
        a.update(Msg::Tick(Clock {
            since_start: Duration::from_secs(1),
            unix: 1_000_000,
        }));
        let token = jwt(1_003_600);
        a.update(Msg::Reply(Reply::Token {
            client_id: "id-1".into(),
            client_secret: "pw".into(),
            result: Ok(Token {
                access_token: token.clone(),
                expires_in: Some(3600),
                token_type: "Bearer".into(),
                scope: Some("compute".into()),
            }),
        }));
        assert_eq!(a.tab, Tab::Tokens);
        let t = &a.tokens[0];
        assert_eq!(t.claims.as_ref().unwrap().alg, "HS256");
        assert_eq!(t.remaining(1_000_000), Some(3600));
        assert_eq!(t.remaining(1_003_601), Some(-1));
        assert_eq!(t.lifetime(), Some(3600));
        assert_eq!(a.secrets["id-1"], "pw");
        // Enter introspects; d asks, then revokes, then introspects again.
        assert_eq!(
            a.update(key(KeyCode::Enter)),
            [Request::Introspect(token.clone())]
        );
        press(&mut a, "d");
        assert!(matches!(a.overlay, Overlay::Confirm(_)));
        assert_eq!(press(&mut a, "y"), [Request::Revoke(token.clone())]);
        let next = a.update(Msg::Reply(Reply::Revoked(token.clone(), Ok(()))));
        assert_eq!(next, [Request::Introspect(token.clone())]);
        assert!(a.tokens[0].revoked);
        a.update(Msg::Reply(Reply::Introspected(
            token,
            Ok(Introspection {
                active: false,
                scope: None,
                client_id: None,
                token_type: None,
                exp: None,
            }),
        )));
        assert!(matches!(&a.tokens[0].introspection, Some(Ok(i)) if !i.active));
    }

    #[test]
    fn an_opaque_token_expires_from_expires_in() {
        let mut a = app();
        a.clock.unix = 500;
        a.update(Msg::Reply(Reply::Token {
            client_id: "id-1".into(),
            client_secret: "pw".into(),
            result: Ok(Token {
                access_token: "0123abcd".into(),
                expires_in: Some(60),
                token_type: "Bearer".into(),
                scope: Some("compute".into()),
            }),
        }));
        let t = &a.tokens[0];
        assert!(t.claims.is_none());
        assert_eq!((t.expires_at, t.lifetime()), (Some(560), Some(60)));
    }

    #[test]
    fn a_pasted_token_is_introspected() {
        let mut a = app();
        press(&mut a, "3i");
        a.update(Msg::Paste("opaque-token-1\n".into()));
        assert_eq!(
            a.update(key(KeyCode::Enter)),
            [Request::Introspect("opaque-token-1".into())]
        );
        assert_eq!(a.tokens.len(), 1);
        assert_eq!(a.tokens[0].origin, Origin::Pasted);
        a.update(Msg::Reply(Reply::Introspected(
            "opaque-token-1".into(),
            Ok(Introspection {
                active: true,
                scope: Some("compute".into()),
                client_id: Some("id-1".into()),
                token_type: Some("Bearer".into()),
                exp: Some(99),
            }),
        )));
        assert_eq!(a.tokens.len(), 1, "the same entry, not a second");
        assert_eq!(
            (a.tokens[0].expires_at, a.tokens[0].scope.as_str()),
            (Some(99), "compute")
        );
    }

    #[test]
    fn help_overlay_lists_keys_scrolls_and_any_other_key_closes_it() {
        let mut a = app();
        press(&mut a, "?");
        assert_eq!(a.overlay, Overlay::Help(0));
        assert_eq!(a.keys(), KEYS_HELP.to_vec());
        press(&mut a, "jj");
        assert_eq!(a.overlay, Overlay::Help(2));
        a.update(key(KeyCode::Up));
        assert_eq!(a.overlay, Overlay::Help(1));
        for _ in 0..100 {
            a.update(key(KeyCode::PageDown));
        }
        assert_eq!(
            a.overlay,
            Overlay::Help(help_lines() - 1),
            "not past the end"
        );
        press(&mut a, "kkkk");
        assert_eq!(a.overlay, Overlay::Help(help_lines() - 5));
        for _ in 0..100 {
            a.update(key(KeyCode::PageUp));
        }
        assert_eq!(a.overlay, Overlay::Help(0), "not before the start");
        press(&mut a, "q");
        assert_eq!(a.overlay, Overlay::None);
        assert!(!a.quit, "the key that closes help does nothing else");
        // Every key of every footer is in the help: tabs, the filter, each overlay.
        let mut screens: Vec<App> = Vec::new();
        for tab in Tab::ALL {
            let mut b = app();
            b.tab = tab;
            screens.push(b);
        }
        for keys in ["/", "a", "d", "2\n"] {
            let mut b = app();
            for c in keys.chars() {
                b.update(if c == '\n' {
                    key(KeyCode::Enter)
                } else {
                    ch(c)
                });
            }
            screens.push(b);
        }
        for s in &screens {
            for k in s.keys() {
                assert!(
                    HELP.iter().any(|(_, keys)| keys.contains(&k)),
                    "{k:?} of {:?} / {:?} is not in the help",
                    s.tab,
                    s.overlay
                );
            }
        }
    }

    #[test]
    fn the_footer_follows_the_screen() {
        let mut a = app();
        assert!(a.keys().contains(&("c", "check backend")));
        assert!(a.keys().contains(&("?", "help")) && a.keys().contains(&("q", "quit")));
        press(&mut a, "4");
        assert!(
            !a.keys().iter().any(|(k, _)| k.contains('↑')),
            "nothing to move on Traffic"
        );
        press(&mut a, "1/");
        assert_eq!(a.keys(), KEYS_FILTER.to_vec());
    }

    #[test]
    fn ctrl_c_quits_from_anywhere() {
        let mut a = app();
        press(&mut a, "a");
        a.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        )));
        assert!(a.quit);
        let mut a = app();
        a.update(Msg::Quit);
        assert!(a.quit);
    }

    #[test]
    fn stats_are_polled_once_a_second_one_at_a_time() {
        let mut a = app();
        let tick = |s: u64, ms: u64| {
            Msg::Tick(Clock {
                since_start: Duration::from_secs(s) + Duration::from_millis(ms),
                unix: 0,
            })
        };
        assert_eq!(a.update(tick(0, 0)), [Request::Stats]);
        assert!(
            a.update(tick(2, 0)).is_empty(),
            "the first is not answered yet"
        );
        a.update(Msg::Reply(Reply::Stats {
            at: Duration::from_secs(2),
            result: Ok(client::Stats::default()),
        }));
        assert!(a.update(tick(0, 500)).is_empty());
        assert_eq!(a.update(tick(1, 0)), [Request::Stats]);
        assert_eq!(
            a.pending, 1,
            "polls are not pending work; the start's Server is"
        );
    }

    #[test]
    fn an_unreachable_server_is_said_and_its_return_reloads() {
        let mut a = App::new("http://127.0.0.1:9", "admin");
        a.start();
        let down = || client::Error::Unreachable {
            url: "http://127.0.0.1:9/services".into(),
            reason: "Connection refused".into(),
        };
        a.update(Msg::Reply(Reply::Services(Err(down()))));
        assert!(matches!(a.link, Link::Down(_)));
        let s = a.status.clone().unwrap();
        assert_eq!(s.level, Level::Error);
        assert!(s.text.contains("cannot reach"), "{}", s.text);
        assert!(a.services.error.is_some());
        // Keys still work while it is down.
        press(&mut a, "2");
        assert_eq!(a.tab, Tab::Clients);
        let next = a.update(Msg::Reply(Reply::Stats {
            at: Duration::from_secs(1),
            result: Ok(client::Stats::default()),
        }));
        assert_eq!(a.link, Link::Up);
        assert_eq!(next, [Request::Services, Request::Clients, Request::Server]);
        // A refusal is an answer: the link stays up.
        a.update(Msg::Reply(Reply::Services(Err(client::Error::Refused {
            status: 404,
            message: "Not Found".into(),
        }))));
        assert_eq!(a.link, Link::Up);
    }

    /// The server's answer to a wrong admin password.
    fn refused<T>() -> Result<T, client::Error> {
        Err(client::Error::Refused {
            status: 401,
            message: "Unauthorized".into(),
        })
    }

    #[test]
    fn a_refused_password_is_said_until_an_admin_request_passes() {
        let mut a = App::new("http://127.0.0.1:9", "admin");
        a.start();
        a.update(Msg::Reply(Reply::Services(refused())));
        assert_eq!(a.link, Link::Denied);
        let s = a.status.clone().unwrap();
        assert_eq!(s.level, Level::Error);
        assert!(
            s.text.contains("refuses the password of admin"),
            "{}",
            s.text
        );
        // The public /info answers; the credentials are still refused.
        a.update(Msg::Reply(Reply::Server(Ok(Box::new(ServerInfo {
            info: client::Info {
                package: "twitcher".into(),
                version: "0.12.0".into(),
            },
            latency: Duration::from_millis(1),
            versions: refused(),
            settings: refused(),
            health: refused(),
            readiness: refused(),
        })))));
        assert_eq!(a.link, Link::Denied);
        a.update(Msg::Reply(Reply::Stats {
            at: Duration::from_secs(1),
            result: Ok(client::Stats::default()),
        }));
        assert_eq!(a.link, Link::Up);
    }

    #[test]
    fn only_an_admin_request_that_passes_clears_a_refusal() {
        let mut a = App::new("http://127.0.0.1:9", "admin");
        a.start();
        a.update(Msg::Reply(Reply::Services(refused())));
        a.update(key(KeyCode::Esc));
        // Refused again, on an action: still refused, and no second form.
        a.update(Msg::Reply(Reply::Unregistered("x".into(), refused())));
        assert_eq!(a.link, Link::Denied);
        assert!(matches!(a.overlay, Overlay::None));
        // A token's 401 is about the client's secret, not the admin's password.
        a.update(Msg::Reply(Reply::Token {
            client_id: "c".into(),
            client_secret: "s".into(),
            result: refused(),
        }));
        assert_eq!(a.link, Link::Denied);
        a.update(Msg::Reply(Reply::Cleared(Ok(true))));
        assert_eq!(a.link, Link::Up);
    }

    #[test]
    fn an_old_passwords_late_401_does_not_undo_a_sign_in() {
        let mut a = App::new("http://127.0.0.1:9", "admin");
        a.start();
        a.update(Msg::Reply(Reply::Services(refused())));
        press(&mut a, "good");
        assert!(matches!(
            a.update(key(KeyCode::Enter))[..],
            [Request::SignIn(_)]
        ));
        a.update(Msg::Reply(Reply::SignedIn("admin".into())));
        // A poll sent before the sign-in, with the old password, answers now.
        a.update(Msg::Reply(Reply::Stats {
            at: Duration::from_secs(1),
            result: refused(),
        }));
        a.update(Msg::Reply(Reply::SignedIn("admin".into())));
        a.update(Msg::Reply(Reply::Services(Ok(vec![]))));
        assert_eq!(a.link, Link::Up);
        assert!(matches!(a.overlay, Overlay::None), "{:?}", a.overlay);
        // Both workers have the new password: a 401 now is about it.
        a.update(Msg::Reply(Reply::Stats {
            at: Duration::from_secs(2),
            result: refused(),
        }));
        assert_eq!(a.link, Link::Denied);
    }

    #[test]
    fn the_last_sign_in_names_the_user() {
        let mut a = App::new("http://127.0.0.1:9", "admin");
        a.start();
        for (user, password) in [("alice", "pw1"), ("bob", "pw2")] {
            a.overlay = Overlay::Form(form::Form::sign_in("", true));
            press(&mut a, user);
            a.update(key(KeyCode::Tab));
            press(&mut a, password);
            a.update(key(KeyCode::Enter));
        }
        // The polls worker answers both while the actions worker is busy, then it does.
        for name in ["alice", "bob", "alice", "bob"] {
            a.update(Msg::Reply(Reply::SignedIn(name.into())));
        }
        assert_eq!(a.username, "bob");
    }

    #[test]
    fn another_password_goes_to_both_workers_and_reloads_once() {
        let mut a = App::new("http://127.0.0.1:9", "admin");
        a.start();
        a.update(Msg::Reply(Reply::Services(refused())));
        // The form opens by itself, on the password.
        let Overlay::Form(f) = &a.overlay else {
            panic!("no form: {:?}", a.overlay);
        };
        assert_eq!(f.kind, form::Kind::SignIn);
        assert_eq!((f.fields[0].value(), f.focus), ("admin".to_string(), 1));
        press(&mut a, " right one ");
        let sent = a.update(key(KeyCode::Enter));
        let expected = client::Credentials {
            username: "admin".into(),
            password: " right one ".into(),
        };
        assert_eq!(sent, [Request::SignIn(expected)]);
        assert!(matches!(a.overlay, Overlay::None));
        let pending = a.pending;
        let first = a.update(Msg::Reply(Reply::SignedIn("admin".into())));
        assert_eq!(
            first,
            [Request::Services, Request::Clients, Request::Server]
        );
        assert_eq!(a.link, Link::Connecting);
        assert!(
            a.update(Msg::Reply(Reply::SignedIn("admin".into())))
                .is_empty()
        );
        assert_eq!(a.pending, pending - 2 + 3);
        // P asks again at any time.
        press(&mut a, "P");
        assert!(matches!(&a.overlay, Overlay::Form(f) if f.kind == form::Kind::SignIn));
    }

    #[test]
    fn popups_close_with_enter_or_esc_and_keep_other_keys() {
        let mut a = app();
        press(&mut a, "2");
        a.update(key(KeyCode::Enter));
        assert!(matches!(&a.overlay, Overlay::Popup(p) if p.title.contains("demo_app")));
        press(&mut a, "dj3");
        assert!(matches!(a.overlay, Overlay::Popup(_)));
        assert_eq!(a.tab, Tab::Clients);
        a.update(key(KeyCode::Esc));
        assert_eq!(a.overlay, Overlay::None);
        assert!(!a.quit);
    }

    #[test]
    fn nothing_selected_means_nothing_to_act_on() {
        let mut a = App::new("http://h", "admin");
        for c in "edcj".chars() {
            assert!(a.update(ch(c)).is_empty());
        }
        assert!(a.update(key(KeyCode::Enter)).is_empty());
        press(&mut a, "3");
        assert!(press(&mut a, "d").is_empty());
        assert!(a.update(key(KeyCode::Enter)).is_empty());
        assert_eq!(a.overlay, Overlay::None);
    }
}
