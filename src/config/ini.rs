//! A reader for Pyramid/PasteDeploy INI files with the semantics of Python's
//! `configparser.ConfigParser`, so an unchanged Twitcher `development.ini` reads the same here.

use std::collections::BTreeMap;
use std::fmt;

/// Python stops expanding `%(name)s` after this many nested levels.
const MAX_INTERPOLATION_DEPTH: usize = 10;

/// One parsed INI file: sections of raw (not yet interpolated) values.
#[derive(Debug, Default)]
pub struct Ini {
    defaults: BTreeMap<String, String>,
    sections: Vec<(String, BTreeMap<String, String>)>,
}

#[derive(Debug, PartialEq)]
pub struct IniError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

fn err(line: usize, message: impl Into<String>) -> IniError {
    IniError {
        line,
        message: message.into(),
    }
}

/// A key whose value is still being collected, because continuation lines may follow.
struct OpenValue {
    section: Option<usize>,
    key: String,
    indent: usize,
    lines: Vec<String>,
}

impl Ini {
    /// Parses `text`; `defaults` play the role of PasteDeploy's `here` and `__file__`.
    pub fn parse(text: &str, defaults: &[(&str, &str)]) -> Result<Ini, IniError> {
        let mut ini = Ini::default();
        for (k, v) in defaults {
            ini.defaults.insert(k.to_string(), v.to_string());
        }
        // None = the DEFAULT section; Some(i) = ini.sections[i]; absent = before any header.
        let mut current: Option<Option<usize>> = None;
        let mut open: Option<OpenValue> = None;

        for (idx, raw) in text.lines().enumerate() {
            let lineno = idx + 1;
            let trimmed = raw.trim();
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if trimmed.is_empty() {
                if let Some(o) = open.as_mut() {
                    o.lines.push(String::new());
                }
                continue;
            }
            let indent = raw.len() - raw.trim_start().len();
            if let Some(o) = open.as_mut()
                && indent > o.indent
            {
                o.lines.push(trimmed.to_string());
                continue;
            }
            if let Some(o) = open.take() {
                ini.close(o);
            }
            if trimmed.starts_with('[') {
                let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
                    return Err(err(lineno, format!("bad section header: {trimmed}")));
                };
                if name == "DEFAULT" {
                    current = Some(None);
                } else if ini.sections.iter().any(|(n, _)| n == name) {
                    return Err(err(lineno, format!("section [{name}] appears twice")));
                } else {
                    ini.sections.push((name.to_string(), BTreeMap::new()));
                    current = Some(Some(ini.sections.len() - 1));
                }
                continue;
            }
            let Some(section) = current else {
                return Err(err(lineno, "a key before the first [section] header"));
            };
            let Some(pos) = trimmed.find(['=', ':']) else {
                return Err(err(
                    lineno,
                    format!("expected `key = value`, found: {trimmed}"),
                ));
            };
            let key = trimmed[..pos].trim().to_lowercase();
            if key.is_empty() {
                return Err(err(lineno, "a value without a key"));
            }
            let map = match section {
                None => &ini.defaults,
                Some(i) => &ini.sections[i].1,
            };
            if map.contains_key(&key) {
                return Err(err(
                    lineno,
                    format!("key `{key}` appears twice in one section"),
                ));
            }
            open = Some(OpenValue {
                section,
                key,
                indent,
                lines: vec![trimmed[pos + 1..].trim().to_string()],
            });
        }
        if let Some(o) = open.take() {
            ini.close(o);
        }
        Ok(ini)
    }

    fn close(&mut self, o: OpenValue) {
        let value = o.lines.join("\n").trim_end().to_string();
        let map = match o.section {
            None => &mut self.defaults,
            Some(i) => &mut self.sections[i].1,
        };
        map.insert(o.key, value);
    }

    pub fn has_section(&self, name: &str) -> bool {
        self.sections.iter().any(|(n, _)| n == name)
    }

    /// Names of all sections but DEFAULT, in file order.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|(n, _)| n.as_str())
    }

    /// All keys of `section` (its own and DEFAULT's) with their values interpolated,
    /// as Python's `parser.items(section)` returns them.
    pub fn items(&self, section: &str) -> Result<BTreeMap<String, String>, IniError> {
        let own = self
            .sections
            .iter()
            .find(|(n, _)| n == section)
            .map(|(_, m)| m)
            .ok_or_else(|| err(0, format!("no section [{section}]")))?;
        let mut out = BTreeMap::new();
        for key in self.defaults.keys().chain(own.keys()) {
            let value = self
                .interpolate(own, key, 0)
                .map_err(|m| err(0, format!("[{section}] {key}: {m}")))?;
            out.insert(key.clone(), value);
        }
        Ok(out)
    }

    fn lookup<'a>(&'a self, own: &'a BTreeMap<String, String>, key: &str) -> Option<&'a String> {
        own.get(key).or_else(|| self.defaults.get(key))
    }

    fn interpolate(
        &self,
        own: &BTreeMap<String, String>,
        key: &str,
        depth: usize,
    ) -> Result<String, String> {
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err("interpolation nested too deeply (a reference loop?)".into());
        }
        let raw = self
            .lookup(own, key)
            .ok_or_else(|| format!("refers to `%({key})s`, which is not set"))?;
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw.as_str();
        while let Some(pos) = rest.find('%') {
            out.push_str(&rest[..pos]);
            rest = &rest[pos + 1..];
            if let Some(r) = rest.strip_prefix('%') {
                out.push('%');
                rest = r;
            } else if let Some(r) = rest.strip_prefix('(') {
                let close = r
                    .find(")s")
                    .ok_or_else(|| "`%(` must be followed by `name)s`".to_string())?;
                let name = r[..close].to_lowercase();
                out.push_str(&self.interpolate(own, &name, depth + 1)?);
                rest = &r[close + 2..];
            } else {
                return Err("a lone `%` must be written `%%`".into());
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str, section: &str) -> BTreeMap<String, String> {
        Ini::parse(text, &[("here", "/etc/tw")])
            .unwrap()
            .items(section)
            .unwrap()
    }

    /// Seeded random files from the odd and the hostile (self-referencing and deep
    /// interpolation, stray `%`, broken headers, continuations, CRLF, tabs, non-ASCII):
    /// parsing and reading every section either works or says why, never panics.
    #[test]
    fn random_files_parse_or_fail_with_a_reason() {
        let mut next = crate::test_support::seeded(0xd1b5_4a32_d192_ed03);
        let lines = [
            "[app:main]",
            "[DEFAULT]",
            "[server:main]",
            "[bad",
            "[]",
            "[ x ]",
            "a = 1",
            "a = %(a)s",
            "b = %(c)s%(c)s%(c)s",
            "c = %(b)s",
            "d = %(here)s/x",
            "e = 100%%",
            "f = 5%",
            "g = %(",
            "h = %(nope)s",
            "  continued",
            "\tcontinued",
            "# comment",
            "; comment",
            "=",
            "k:v",
            "気象 = é",
            "x = y\r",
            "",
            "   ",
        ];
        for _ in 0..3000 {
            let text: Vec<&str> = (0..next(14)).map(|_| lines[next(lines.len())]).collect();
            let text = text.join(if next(4) == 0 { "\r\n" } else { "\n" });
            let Ok(ini) = Ini::parse(&text, &[("here", "/etc/tw")]) else {
                continue;
            };
            let names: Vec<String> = ini.section_names().map(String::from).collect();
            for name in names {
                let _ = ini.items(&name);
            }
        }
    }

    #[test]
    fn interpolates_from_section_defaults_and_here() {
        let text = "[DEFAULT]\nport = 8000\n[app:main]\nurl = http://h:%(port)s\ndb = sqlite:///%(here)s/t.sqlite\npct = 100%%\n";
        let m = items(text, "app:main");
        assert_eq!(m["url"], "http://h:8000");
        assert_eq!(m["db"], "sqlite:////etc/tw/t.sqlite");
        assert_eq!(m["pct"], "100%");
        assert_eq!(m["port"], "8000");
    }

    #[test]
    fn continuation_lines_keys_and_comments() {
        let text = "[app:main]\n# comment\n; other\nPyramid.Includes =\n    a\n\n    b\nnext: v : w\nempty =\n";
        let m = items(text, "app:main");
        assert_eq!(m["pyramid.includes"], "\na\n\nb");
        assert_eq!(m["next"], "v : w");
        assert_eq!(m["empty"], "");
    }

    #[test]
    fn section_values_win_over_defaults() {
        let text = "[DEFAULT]\nx = d\n[s]\nx = s\ny = %(x)s\n";
        assert_eq!(items(text, "s")["y"], "s");
    }

    #[test]
    fn errors_name_the_line_or_key() {
        assert_eq!(Ini::parse("x = 1\n", &[]).unwrap_err().line, 1);
        assert_eq!(Ini::parse("[a]\nx=1\nx=2\n", &[]).unwrap_err().line, 3);
        assert_eq!(Ini::parse("[a]\njunk\n", &[]).unwrap_err().line, 2);
        let ini = Ini::parse("[a]\nx = %(nope)s\ny = 5%\nz = %(z)s\n", &[]).unwrap();
        let e = ini.items("a").unwrap_err().message;
        assert!(e.contains("nope"), "{e}");
        let ini = Ini::parse("[a]\ny = 5%\n", &[]).unwrap();
        assert!(ini.items("a").unwrap_err().message.contains("%%"));
        let ini = Ini::parse("[a]\nz = %(z)s\n", &[]).unwrap();
        assert!(ini.items("a").unwrap_err().message.contains("deeply"));
    }

    #[test]
    fn reads_the_reference_development_ini() {
        let text = include_str!("../../tests/fixtures/twitcher.ini");
        let ini = Ini::parse(text, &[("here", "/x"), ("__file__", "/x/twitcher.ini")]).unwrap();
        let app = ini.items("app:main").unwrap();
        assert_eq!(app["twitcher.url"], "http://127.0.0.1:8000");
        assert_eq!(app["sqlalchemy.url"], "sqlite:////tmp/peer-twitcher.sqlite");
        assert_eq!(app["pyramid.includes"], "\npeer_twitcher_fix");
        assert_eq!(ini.items("server:main").unwrap()["bind"], "127.0.0.1:8000");
        // Interpolation is lazy: logging formats with %(asctime)s are never expanded.
        assert!(ini.has_section("formatter_generic"));
    }
}
