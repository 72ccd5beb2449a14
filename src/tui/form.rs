//! The TUI's forms: text fields with a cursor, choices and switches, and the checks
//! that run on every key, so a mistake shows while it is typed rather than after a
//! round trip. The checks are the server's own (registry and OAuth rules).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::worker::Request;
use crate::client::NewService;
use crate::config::valid_http_url;
use crate::oauth::{MAX_NAME_LEN, MAX_REDIRECT_URI_LEN};
use crate::registry::{base_url, public_url, sanitize_name};

/// Longer input is cut; no field of the API takes more.
const MAX_INPUT: usize = 16 * 1024;

pub const SERVICE_TYPES: &[&str] = &["wps", "wms", "wfs", "wcs", "wmts"];
pub const AUTH_KINDS: &[&str] = &["token", "cert", "public"];

/// One line of editable text; the cursor counts characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextInput {
    value: String,
    cursor: usize,
}

impl TextInput {
    pub fn new(value: &str) -> TextInput {
        let mut t = TextInput::default();
        t.insert_str(value);
        t
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    fn len(&self) -> usize {
        self.value.chars().count()
    }

    fn byte_at(&self, char_index: usize) -> usize {
        self.value
            .char_indices()
            .nth(char_index)
            .map_or(self.value.len(), |(i, _)| i)
    }

    /// Inserts at the cursor; control characters (a pasted line end) are dropped.
    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars().filter(|c| !c.is_control()) {
            if self.len() >= MAX_INPUT {
                return;
            }
            let at = self.byte_at(self.cursor);
            self.value.insert(at, c);
            self.cursor += 1;
        }
    }

    /// Edits for a key; false when the key is not an edit.
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('u') if ctrl => {
                self.value.clear();
                self.cursor = 0;
            }
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.len(),
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => {
                self.insert_str(c.encode_utf8(&mut [0; 4]));
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = self.byte_at(self.cursor);
                self.value.remove(at);
            }
            KeyCode::Delete if self.cursor < self.len() => {
                let at = self.byte_at(self.cursor);
                self.value.remove(at);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.len()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.len(),
            KeyCode::Backspace | KeyCode::Delete => {}
            _ => return false,
        }
        true
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Text(TextInput),
    Choice { options: Vec<String>, index: usize },
    Switch(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub label: &'static str,
    pub input: Input,
    /// Shown as dots: client secrets.
    pub secret: bool,
    /// Shown but not editable: the name of a service being edited.
    pub locked: bool,
    /// Edited or left once: from then on its errors show.
    pub touched: bool,
}

impl Field {
    fn text(label: &'static str, value: &str) -> Field {
        Field {
            label,
            input: Input::Text(TextInput::new(value)),
            secret: false,
            locked: false,
            touched: false,
        }
    }

    /// A choice of `options`, on `current`; a current value not among them is added.
    fn choice(label: &'static str, options: &[&str], current: &str) -> Field {
        let mut options: Vec<String> = options.iter().map(|o| o.to_string()).collect();
        let index = match options.iter().position(|o| o == current) {
            Some(i) => i,
            None => {
                options.insert(0, current.to_string());
                0
            }
        };
        Field {
            input: Input::Choice { options, index },
            ..Field::text(label, "")
        }
    }

    fn switch(label: &'static str, on: bool) -> Field {
        Field {
            input: Input::Switch(on),
            ..Field::text(label, "")
        }
    }

    /// The text of a text field, the option of a choice, `true`/`false` of a switch.
    pub fn value(&self) -> String {
        match &self.input {
            Input::Text(t) => t.value().to_string(),
            Input::Choice { options, index } => options[*index].clone(),
            Input::Switch(on) => on.to_string(),
        }
    }

    fn on(&self) -> bool {
        matches!(self.input, Input::Switch(true))
    }
}

/// The judgement on one field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Fine,
    /// Acceptable, and worth knowing: what the server will make of it.
    Note(String),
    Wrong(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Register,
    Edit,
    AddClient,
    IssueToken,
    Introspect,
    SignIn,
}

/// What a key did to the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stay,
    Submit,
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub kind: Kind,
    pub title: String,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// Submitted once: every field's errors show.
    pub tried: bool,
}

fn scopes_field(label: &'static str, on: bool) -> Field {
    Field::switch(label, on)
}

impl Form {
    fn new(kind: Kind, title: &str, fields: Vec<Field>) -> Form {
        let focus = fields.iter().position(|f| !f.locked).unwrap_or(0);
        Form {
            kind,
            title: title.to_string(),
            fields,
            focus,
            tried: false,
        }
    }

    pub fn register() -> Form {
        Form::new(
            Kind::Register,
            "Register a service",
            vec![
                Field::text("Name", ""),
                Field::text("URL", ""),
                Field::choice("Type", SERVICE_TYPES, "wps"),
                Field::text("Public URL", ""),
                Field::choice("Auth", AUTH_KINDS, "token"),
                Field::switch("Verify TLS", true),
            ],
        )
    }

    pub fn edit(s: &crate::client::Service) -> Form {
        let mut name = Field::text("Name", &s.name);
        name.locked = true;
        Form::new(
            Kind::Edit,
            &format!("Edit service {}", s.name),
            vec![
                name,
                Field::text("URL", &s.url),
                Field::choice("Type", SERVICE_TYPES, &s.kind),
                Field::text("Public URL", &s.purl),
                Field::choice("Auth", AUTH_KINDS, &s.auth),
                Field::switch("Verify TLS", s.verify),
            ],
        )
    }

    pub fn add_client() -> Form {
        Form::new(
            Kind::AddClient,
            "Add a client application",
            vec![
                Field::text("Name", ""),
                Field::text("Redirect URI", ""),
                scopes_field("compute", true),
                scopes_field("register", false),
            ],
        )
    }

    /// `secret` is filled in when this session knows it.
    pub fn issue_token(client_id: &str, secret: Option<&str>) -> Form {
        let mut secret = Field::text("Secret", secret.unwrap_or(""));
        secret.secret = true;
        let mut f = Form::new(
            Kind::IssueToken,
            "Issue a token (client credentials)",
            vec![
                Field::text("Client ID", client_id),
                secret,
                scopes_field("compute", true),
                scopes_field("register", false),
                Field::text("Token URL", ""),
            ],
        );
        // Straight to what is missing.
        f.focus = if client_id.is_empty() {
            0
        } else if f.fields[1].value().is_empty() {
            1
        } else {
            2
        };
        f
    }

    pub fn introspect() -> Form {
        Form::new(
            Kind::Introspect,
            "Introspect a token (paste it)",
            vec![Field::text("Token", "")],
        )
    }

    /// The admin's credentials: again after the server refused them (`refused`), or
    /// other ones because the user asked (P).
    pub fn sign_in(username: &str, refused: bool) -> Form {
        let mut password = Field::text("Password", "");
        password.secret = true;
        let title = if refused {
            "Sign in again (the server refused the password)"
        } else {
            "Sign in (the admin's user and password)"
        };
        let mut f = Form::new(
            Kind::SignIn,
            title,
            vec![Field::text("User", username), password],
        );
        f.focus = if username.is_empty() { 0 } else { 1 };
        f
    }

    fn text(&self, i: usize) -> String {
        self.fields[i].value().trim().to_string()
    }

    fn scopes(&self, first: usize) -> Vec<String> {
        ["compute", "register"]
            .iter()
            .enumerate()
            .filter(|(k, _)| self.fields[first + k].on())
            .map(|(_, s)| s.to_string())
            .collect()
    }

    /// The judgement on every field, in order.
    pub fn verdicts(&self) -> Vec<Verdict> {
        use Verdict::*;
        let required = |v: &str| {
            if v.is_empty() {
                Wrong("required".into())
            } else {
                Fine
            }
        };
        let url = |v: &str, optional: &str, normalize: fn(&str) -> Result<String, String>| {
            if v.is_empty() {
                return if optional.is_empty() {
                    Wrong("required".into())
                } else {
                    Note(optional.into())
                };
            }
            match normalize(v) {
                Err(m) => Wrong(m),
                Ok(u) if u != v => Note(format!("stored as {u}")),
                Ok(_) => Fine,
            }
        };
        match self.kind {
            Kind::Register | Kind::Edit => {
                let name = self.text(0);
                let name = if self.kind == Kind::Edit {
                    Note("the name is the key; it cannot change".into())
                } else if name.is_empty() {
                    Note("empty: a generated name".into())
                } else {
                    match sanitize_name(&name) {
                        Err(m) => Wrong(m),
                        Ok(s) if s != name => Note(format!("stored as {s}")),
                        Ok(_) => Fine,
                    }
                };
                let auth = match self.fields[4].value().as_str() {
                    "token" => Note("a token with scope compute".into()),
                    "cert" => Note("a client certificate, checked in front".into()),
                    _ => Note("public: no token needed".into()),
                };
                let verify = if self.fields[5].on() {
                    Fine
                } else {
                    Note("the backend's certificate is not checked".into())
                };
                vec![
                    name,
                    url(&self.text(1), "", base_url),
                    Fine,
                    url(&self.text(3), "empty: the proxy URL", public_url),
                    auth,
                    verify,
                ]
            }
            Kind::AddClient => {
                let name = self.text(0);
                let name = if name.chars().count() > MAX_NAME_LEN {
                    Wrong(format!("at most {MAX_NAME_LEN} characters"))
                } else if name.is_empty() {
                    Note("optional".into())
                } else {
                    Fine
                };
                let uri = if self.text(1).len() > MAX_REDIRECT_URI_LEN {
                    Wrong(format!("at most {MAX_REDIRECT_URI_LEN} characters"))
                } else {
                    Fine
                };
                let scopes = if self.scopes(2).is_empty() {
                    Note("none: compute, the default".into())
                } else {
                    Fine
                };
                vec![name, uri, scopes, Fine]
            }
            Kind::IssueToken => {
                let scopes = if self.scopes(2).is_empty() {
                    Note("none: every scope of the client".into())
                } else {
                    Fine
                };
                let token_url = self.text(4);
                let token_url = if token_url.is_empty() {
                    Note("empty: this server's /oauth/token".into())
                } else if valid_http_url(&token_url) {
                    Fine
                } else {
                    Wrong("an http(s) URL, e.g. a Keycloak realm's token endpoint".into())
                };
                vec![
                    required(&self.text(0)),
                    required(&self.text(1)),
                    scopes,
                    Fine,
                    token_url,
                ]
            }
            Kind::SignIn => vec![required(&self.text(0)), required(&self.fields[1].value())],
            Kind::Introspect => {
                let t = self.text(0);
                vec![if t.chars().any(char::is_whitespace) {
                    Wrong("a token has no spaces".into())
                } else {
                    required(&t)
                }]
            }
        }
    }

    pub fn valid(&self) -> bool {
        !self
            .verdicts()
            .iter()
            .any(|v| matches!(v, Verdict::Wrong(_)))
    }

    /// Whether a field's error is shown yet.
    pub fn shows_errors(&self, i: usize) -> bool {
        self.tried || self.fields[i].touched
    }

    /// The request the form stands for; None while a field is wrong.
    pub fn request(&self) -> Option<Request> {
        if !self.valid() {
            return None;
        }
        Some(match self.kind {
            Kind::Register | Kind::Edit => Request::Register {
                service: NewService {
                    name: self.text(0),
                    url: self.text(1),
                    kind: self.fields[2].value(),
                    purl: self.text(3),
                    auth: self.fields[4].value(),
                    verify: self.fields[5].on(),
                },
                update: self.kind == Kind::Edit,
            },
            Kind::AddClient => Request::AddClient {
                name: self.text(0),
                redirect_uri: self.text(1),
                scopes: self.scopes(2),
            },
            Kind::IssueToken => Request::Token {
                client_id: self.text(0),
                client_secret: self.text(1),
                scopes: self.scopes(2),
                token_url: Some(self.text(4)).filter(|u| !u.is_empty()),
            },
            Kind::Introspect => Request::Introspect(self.text(0)),
            // The password as typed: spaces at its ends are part of it.
            Kind::SignIn => Request::SignIn(crate::client::Credentials {
                username: self.text(0),
                password: self.fields[1].value(),
            }),
        })
    }

    fn step(&mut self, forward: bool) {
        self.fields[self.focus].touched = true;
        let n = self.fields.len();
        for _ in 0..n {
            self.focus = if forward {
                (self.focus + 1) % n
            } else {
                (self.focus + n - 1) % n
            };
            if !self.fields[self.focus].locked {
                return;
            }
        }
    }

    pub fn paste(&mut self, text: &str) {
        let f = &mut self.fields[self.focus];
        if let (Input::Text(t), false) = (&mut f.input, f.locked) {
            t.insert_str(text.trim());
            f.touched = true;
        }
    }

    /// Enter submits; when a field is wrong, it goes there instead, and every error shows.
    pub fn on_key(&mut self, key: KeyEvent) -> Outcome {
        match key.code {
            KeyCode::Esc => return Outcome::Cancel,
            KeyCode::Enter => {
                self.tried = true;
                if let Some(i) = self
                    .verdicts()
                    .iter()
                    .position(|v| matches!(v, Verdict::Wrong(_)))
                {
                    self.focus = i;
                    return Outcome::Stay;
                }
                return Outcome::Submit;
            }
            KeyCode::Tab | KeyCode::Down => self.step(true),
            KeyCode::BackTab | KeyCode::Up => self.step(false),
            _ if self.fields[self.focus].locked => {}
            _ => {
                let f = &mut self.fields[self.focus];
                let changed = match &mut f.input {
                    Input::Text(t) => t.on_key(key),
                    Input::Choice { options, index } => match key.code {
                        KeyCode::Right | KeyCode::Char(' ') => {
                            *index = (*index + 1) % options.len();
                            true
                        }
                        KeyCode::Left => {
                            *index = (*index + options.len() - 1) % options.len();
                            true
                        }
                        _ => false,
                    },
                    Input::Switch(on) => match key.code {
                        KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right => {
                            *on = !*on;
                            true
                        }
                        _ => false,
                    },
                };
                if changed {
                    f.touched = true;
                }
            }
        }
        Outcome::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_in(f: &mut Form, s: &str) {
        for c in s.chars() {
            f.on_key(key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn text_input_edits_at_the_cursor() {
        let mut t = TextInput::new("hllo");
        t.on_key(key(KeyCode::Home));
        t.on_key(key(KeyCode::Right));
        t.on_key(key(KeyCode::Char('e')));
        assert_eq!((t.value(), t.cursor()), ("hello", 2));
        t.on_key(key(KeyCode::End));
        t.on_key(key(KeyCode::Backspace));
        t.on_key(key(KeyCode::Home));
        t.on_key(key(KeyCode::Delete));
        assert_eq!(t.value(), "ell");
        // Multi-byte characters count as one.
        let mut t = TextInput::new("ümlaut");
        t.on_key(key(KeyCode::Home));
        t.on_key(key(KeyCode::Delete));
        assert_eq!(t.value(), "mlaut");
        t.insert_str("a\r\nb");
        assert_eq!(t.value(), "abmlaut");
        assert!(t.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        assert_eq!((t.value(), t.cursor()), ("", 0));
        assert!(!t.on_key(key(KeyCode::F(2))));
        // Keys at the edges do nothing, and nothing panics.
        for k in [KeyCode::Backspace, KeyCode::Delete, KeyCode::Left] {
            t.on_key(key(k));
        }
        t.insert_str(&"x".repeat(MAX_INPUT + 10));
        assert_eq!(t.value().len(), MAX_INPUT);
    }

    #[test]
    fn register_validates_as_you_type() {
        let mut f = Form::register();
        assert_eq!(f.focus, 0);
        type_in(&mut f, "Emu Two");
        assert_eq!(f.verdicts()[0], Verdict::Note("stored as emu_two".into()));
        f.on_key(key(KeyCode::Tab));
        type_in(&mut f, "ftp://x");
        assert!(matches!(f.verdicts()[1], Verdict::Wrong(_)));
        assert!(f.shows_errors(1), "a field being typed in shows its error");
        assert!(!f.shows_errors(3), "an untouched field does not, yet");
        assert_eq!(f.request(), None);
        for _ in 0..7 {
            f.on_key(key(KeyCode::Backspace));
        }
        type_in(&mut f, "http://h:5000/wps?x=1");
        assert_eq!(
            f.verdicts()[1],
            Verdict::Note("stored as http://h:5000/wps".into())
        );
        // Type and auth are choices; arrows and space change them.
        f.on_key(key(KeyCode::Tab));
        f.on_key(key(KeyCode::Right));
        assert_eq!(f.fields[2].value(), "wms");
        f.on_key(key(KeyCode::Left));
        f.on_key(key(KeyCode::Down));
        f.on_key(key(KeyCode::Down));
        f.on_key(key(KeyCode::Char(' ')));
        f.on_key(key(KeyCode::Char(' ')));
        assert_eq!(f.fields[4].value(), "public");
        f.on_key(key(KeyCode::Tab));
        f.on_key(key(KeyCode::Char(' ')));
        assert_eq!(f.on_key(key(KeyCode::Enter)), Outcome::Submit);
        assert_eq!(
            f.request(),
            Some(Request::Register {
                service: NewService {
                    name: "Emu Two".into(),
                    url: "http://h:5000/wps?x=1".into(),
                    kind: "wps".into(),
                    purl: String::new(),
                    auth: "public".into(),
                    verify: false,
                },
                update: false,
            })
        );
    }

    #[test]
    fn enter_on_a_wrong_form_goes_to_the_first_error() {
        let mut f = Form::register();
        type_in(&mut f, "x");
        assert!(matches!(f.verdicts()[0], Verdict::Wrong(_)));
        f.focus = 3;
        assert_eq!(f.on_key(key(KeyCode::Enter)), Outcome::Stay);
        assert_eq!(f.focus, 0);
        assert!(f.tried && f.shows_errors(1));
        assert_eq!(f.on_key(key(KeyCode::Esc)), Outcome::Cancel);
        // An empty name is fine: the worker picks one.
        let mut f = Form::register();
        f.on_key(key(KeyCode::Tab));
        type_in(&mut f, "https://h/wps");
        assert!(f.valid());
    }

    #[test]
    fn edit_keeps_the_name_and_unknown_choices() {
        let s = crate::client::Service {
            url: "http://h/wms".into(),
            name: "emu".into(),
            kind: "WPS".into(),
            purl: String::new(),
            auth: "token".into(),
            public: false,
            verify: true,
        };
        let mut f = Form::edit(&s);
        assert_eq!(f.focus, 1, "the locked name is skipped");
        f.on_key(key(KeyCode::BackTab));
        assert_eq!(f.focus, 5, "and stays skipped going back");
        f.focus = 0;
        type_in(&mut f, "zz");
        assert_eq!(f.fields[0].value(), "emu");
        f.paste("zz");
        assert_eq!(f.fields[0].value(), "emu");
        assert_eq!(f.fields[2].value(), "WPS", "an unknown type is kept");
        let Some(Request::Register { service, update }) = f.request() else {
            panic!()
        };
        assert!(update);
        assert_eq!(
            (service.name.as_str(), service.kind.as_str()),
            ("emu", "WPS")
        );
    }

    #[test]
    fn client_token_and_introspect_forms() {
        let mut f = Form::add_client();
        f.on_key(key(KeyCode::Down));
        f.on_key(key(KeyCode::Down));
        f.on_key(key(KeyCode::Char(' ')));
        assert_eq!(
            f.verdicts()[2],
            Verdict::Note("none: compute, the default".into())
        );
        f.on_key(key(KeyCode::Down));
        f.on_key(key(KeyCode::Char(' ')));
        assert_eq!(
            f.request(),
            Some(Request::AddClient {
                name: String::new(),
                redirect_uri: String::new(),
                scopes: vec!["register".into()],
            })
        );

        let f = Form::issue_token("id1", Some("s3cret"));
        assert!(f.fields[1].secret);
        assert_eq!(f.focus, 2);
        assert!(f.valid());
        let mut f = Form::issue_token("id1", None);
        assert_eq!(f.focus, 1);
        assert_eq!(f.request(), None);
        type_in(&mut f, "pw");
        assert_eq!(
            f.request(),
            Some(Request::Token {
                client_id: "id1".into(),
                client_secret: "pw".into(),
                scopes: vec!["compute".into()],
                token_url: None,
            })
        );
        // Another token endpoint, as gentoken --token-url.
        f.focus = 4;
        type_in(&mut f, "keycloak/token");
        assert!(matches!(f.verdicts()[4], Verdict::Wrong(_)));
        for _ in 0.."keycloak/token".len() {
            f.on_key(key(KeyCode::Backspace));
        }
        type_in(
            &mut f,
            "https://kc/realms/demo/protocol/openid-connect/token",
        );
        let Some(Request::Token { token_url, .. }) = f.request() else {
            panic!()
        };
        assert_eq!(
            token_url.as_deref(),
            Some("https://kc/realms/demo/protocol/openid-connect/token")
        );

        let mut f = Form::introspect();
        f.paste("  abc.def.ghi\n");
        assert_eq!(f.request(), Some(Request::Introspect("abc.def.ghi".into())));
        type_in(&mut f, " x");
        assert!(matches!(f.verdicts()[0], Verdict::Wrong(_)));
    }
}
