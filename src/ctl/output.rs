//! How a result is printed: one JSON document for scripts (`jq`), or a table for people.

use serde_json::Value;
use unicode_width::UnicodeWidthStr;

use crate::cli::twitcherctl::Output;

pub fn render(value: &Value, format: Output) -> String {
    match format {
        Output::Json => {
            let s = serde_json::to_string_pretty(value).expect("JSON serialises");
            // serde_json escapes C0 controls but passes DEL and C1 (U+009B is a CSI
            // to many terminals); escaped, the document means the same.
            let mut out = String::with_capacity(s.len() + 1);
            for c in s.chars() {
                if ('\u{7f}'..='\u{9f}').contains(&c) {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push(c);
                }
            }
            out.push('\n');
            out
        }
        Output::Table => table(value),
    }
}

pub use crate::log::printable;

/// A cell's text: strings bare, lists space-separated, null empty.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => printable(s).into_owned(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

fn rows(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.width())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                line.push_str(&" ".repeat(widths[i] - c.width() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A list of objects as columns under a header; an object as `key  value` lines.
fn table(value: &Value) -> String {
    match value {
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let mut keys: Vec<&str> = Vec::new();
            for item in items.iter().filter_map(Value::as_object) {
                for k in item.keys() {
                    if !keys.contains(&k.as_str()) {
                        keys.push(k);
                    }
                }
            }
            let mut out = vec![
                keys.iter()
                    .map(|k| printable(&k.to_uppercase()).into_owned())
                    .collect(),
            ];
            for item in items {
                out.push(
                    keys.iter()
                        .map(|k| item.get(*k).map(cell).unwrap_or_default())
                        .collect(),
                );
            }
            rows(&out)
        }
        // An empty list has no columns to name; a blank answer would look like a failure.
        Value::Array(items) if items.is_empty() => "(none)\n".to_string(),
        Value::Array(items) => items.iter().map(|i| format!("{}\n", cell(i))).collect(),
        Value::Object(map) => rows(
            &map.iter()
                .map(|(k, v)| vec![printable(k).into_owned(), cell(v)])
                .collect::<Vec<_>>(),
        ),
        other => format!("{}\n", cell(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn control_characters_reach_no_terminal() {
        let hostile =
            json!([{"name": "a\u{1b}]0;PWNED\u{7}", "url": "http://h/\u{9b}2J", "type": "x\r\ny"}]);
        let table = render(&hostile, Output::Table);
        assert!(
            !table.chars().any(|c| c.is_control() && c != '\n'),
            "{table:?}"
        );
        assert_eq!(table.lines().count(), 2, "one header, one row: {table}");
        assert!(table.contains("a\\u{1b}]0;PWNED\\u{7}"), "{table}");
        let json = render(&hostile, Output::Json);
        assert!(
            !json.chars().any(|c| c.is_control() && c != '\n'),
            "{json:?}"
        );
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), hostile);
        assert_eq!(printable("plain"), "plain");
    }

    #[test]
    fn lists_become_columns_and_objects_pairs() {
        let list = json!([
            {"name": "emu", "url": "http://localhost:5000/wps", "verify": true},
            {"name": "hummingbird", "url": "http://h/wps", "verify": false},
        ]);
        assert_eq!(
            render(&list, Output::Table),
            "NAME         URL                        VERIFY\n\
             emu          http://localhost:5000/wps  true\n\
             hummingbird  http://h/wps               false\n"
        );
        assert_eq!(render(&json!([]), Output::Table), "(none)\n");
        assert_eq!(render(&json!([]), Output::Json).trim(), "[]");
        let obj = json!({"client_id": "abc", "scope": ["compute", "register"], "redirect_uri": ""});
        assert_eq!(
            render(&obj, Output::Table),
            "client_id     abc\nscope         compute register\nredirect_uri\n"
        );
        // Columns line up on the terminal: wide characters take two cells, combining
        // marks none.
        let wide = json!([
            {"name": "気象", "url": "http://h/a"},
            {"name": "e\u{301}mu", "url": "http://h/b"},
            {"name": "wps", "url": "http://h/c"},
        ]);
        assert_eq!(
            render(&wide, Output::Table),
            "NAME  URL\n気象  http://h/a\ne\u{301}mu   http://h/b\nwps   http://h/c\n"
        );
        assert_eq!(render(&json!(true), Output::Table), "true\n");
        assert_eq!(render(&json!({"a": 1}), Output::Json), "{\n  \"a\": 1\n}\n");
    }
}
