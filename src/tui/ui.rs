//! Drawing the TUI from [`App`]: a tab bar with the link state, the current tab, a
//! status line, the footer of keys that work now, and any overlay on top. Nothing here
//! changes state, so every screen is tested with ratatui's `TestBackend`.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, Cell, Clear, Gauge, HighlightSpacing, Paragraph, Row,
    Sparkline, Table, TableState, Tabs, Wrap,
};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::app::{
    App, Emphasis, Filterable, HELP, Level, Link, Origin, Overlay, Popup, Tab, TokenEntry,
    check_line, help_lines,
};
use super::fmt;
use super::form::{Form, Input, Verdict};
use super::traffic::CLASSES;

/// Below this the screen says so instead of drawing a squashed UI.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;

const DIM: Style = Style::new().fg(Color::DarkGray);
const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
/// Marks the selected row where reverse video does not show (monochrome, a text capture).
const MARK: &str = "▶ ";

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(f, area);
        return;
    }
    let keys = footer_lines(app, area.width);
    let [head, body, status, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(keys.len() as u16),
    ])
    .areas(area);
    header(f, head, app);
    match app.tab {
        Tab::Services => services(f, body, app),
        Tab::Clients => clients(f, body, app),
        Tab::Tokens => tokens(f, body, app),
        Tab::Traffic => traffic(f, body, app),
        Tab::Server => server(f, body, app),
    }
    status_line(f, status, app);
    f.render_widget(Paragraph::new(keys), foot);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help(top) => help(f, area, *top),
        Overlay::Form(form) => form_popup(f, area, form),
        Overlay::Confirm(c) => confirm(f, area, &c.question),
        Overlay::Popup(p) => popup(f, area, p),
    }
}

fn too_small(f: &mut Frame, area: Rect) {
    let text = vec![
        Line::from("Terminal too small".bold()),
        Line::from(format!("{}x{}", area.width, area.height)),
        Line::from(format!("twitcher tui needs {MIN_WIDTH}x{MIN_HEIGHT}")),
        Line::from("Enlarge it, or press q".dim()),
    ];
    let h = (text.len() as u16).min(area.height);
    let centered = area.centered_vertically(Constraint::Length(h));
    f.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        centered,
    );
}

fn header(f: &mut Frame, area: Rect, app: &App) {
    let (symbol, color, what) = match &app.link {
        Link::Connecting => ("○", Color::Yellow, "connecting".to_string()),
        Link::Up => (
            "●",
            Color::Green,
            format!("{}@{}", app.username, app.server_url),
        ),
        Link::Down(_) => ("✗", Color::Red, format!("unreachable {}", app.server_url)),
        Link::Denied => (
            "✗",
            Color::Red,
            format!("{} refused by {}", app.username, app.server_url),
        ),
    };
    let link = format!("{symbol} {what} ");
    let width = (link.width() as u16).min(area.width / 2);
    let [tabs, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(width)]).areas(area);
    let titles: Vec<String> = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{} {}", i + 1, t.title()))
        .collect();
    f.render_widget(
        Tabs::new(titles)
            .select(app.tab.index())
            .highlight_style(SELECTED.add_modifier(Modifier::BOLD))
            .divider("│"),
        tabs,
    );
    f.render_widget(
        Paragraph::new(link)
            .style(Style::new().fg(color))
            .alignment(Alignment::Right),
        right,
    );
}

fn status_line(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = Vec::new();
    if let Some(c) = app.spinner() {
        spans.push(Span::styled(format!("{c} "), Style::new().fg(Color::Cyan)));
    }
    if let Some(s) = &app.status {
        let style = match s.level {
            Level::Info => Style::new().fg(Color::Cyan),
            Level::Done => Style::new().fg(Color::Green),
            Level::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        };
        spans.push(Span::styled(s.text.clone(), style));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The keys that work now, on one line or, when they do not fit, two.
fn footer_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let mut lines: Vec<Vec<Span>> = vec![Vec::new()];
    let mut used = 0;
    for (k, what) in app.keys() {
        let len = k.width() + what.width() + 3;
        if used > 0 && used + len > width as usize && lines.len() < 2 {
            lines.push(Vec::new());
            used = 0;
        }
        let line = lines.last_mut().expect("one line at least");
        if used > 0 {
            line.push(Span::raw("  "));
        }
        line.push(Span::styled(k, BOLD.fg(Color::Yellow)));
        line.push(Span::styled(format!(" {what}"), DIM));
        used += len;
    }
    lines.into_iter().map(Line::from).collect()
}

/// A message in place of a list: loading, failed, empty.
fn placeholder(f: &mut Frame, area: Rect, text: &str, error: bool) {
    let style = if error {
        Style::new().fg(Color::Red)
    } else {
        DIM
    };
    f.render_widget(
        Paragraph::new(text.to_string())
            .style(style)
            .wrap(Wrap { trim: true })
            .block(Block::bordered()),
        area,
    );
}

fn filter_line(f: &mut Frame, area: Rect, filter: &str, typing: bool, shown: usize, of: usize) {
    let mut spans = vec![
        Span::styled("/", BOLD.fg(Color::Yellow)),
        Span::raw(filter.to_string()),
    ];
    if typing {
        spans.push(Span::styled("▏", Style::new().fg(Color::Yellow)));
    }
    spans.push(Span::styled(format!("   {shown} of {of}"), DIM));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Splits off a filter line when a filter is typed or set.
fn with_filter(area: Rect, filter: &str, typing: bool) -> (Option<Rect>, Rect) {
    if typing || !filter.is_empty() {
        let [line, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        (Some(line), rest)
    } else {
        (None, area)
    }
}

fn table<'a>(
    f: &mut Frame,
    area: Rect,
    header: &[&'a str],
    widths: &[Constraint],
    rows: Vec<Row<'a>>,
    selected: usize,
    title: String,
) {
    let header = Row::new(header.iter().map(|h| Cell::from(*h))).style(BOLD.fg(Color::Cyan));
    let mut state = TableState::default().with_selected(Some(selected));
    f.render_stateful_widget(
        Table::new(rows, widths.to_vec())
            .header(header)
            .row_highlight_style(SELECTED)
            .highlight_symbol(MARK)
            .highlight_spacing(HighlightSpacing::Always)
            .block(Block::bordered().title(title)),
        area,
        &mut state,
    );
}

/// A column as wide as its widest value, within bounds.
fn widest<'a>(values: impl Iterator<Item = &'a str>, min: u16, max: u16) -> u16 {
    let w = values.map(|v| v.width()).max().unwrap_or(0) as u16;
    w.clamp(min, max)
}

/// The words a list tab's placeholders use for its items.
struct Noun {
    one: &'static str,
    many: &'static str,
    none_yet: &'static str,
}

/// A list tab's filter line, then its rows, or a placeholder in their place while the
/// list loads, after it failed, or when it is (or the filter leaves it) empty. `None`
/// when the placeholder took the area.
fn filtered_rows<'t, T: Filterable>(
    f: &mut Frame,
    area: Rect,
    t: &'t super::app::Table<T>,
    typing: bool,
    noun: Noun,
) -> Option<(Rect, Vec<&'t T>)> {
    let (filter, area) = with_filter(area, &t.filter, typing);
    let visible = t.visible();
    if let Some(line) = filter {
        filter_line(f, line, &t.filter, typing, visible.len(), t.items.len());
    }
    if !t.loaded {
        let text = match &t.error {
            Some(e) => format!("Cannot list the {}: {e}\nr tries again.", noun.many),
            None => format!("Loading {}…", noun.many),
        };
        placeholder(f, area, &text, t.error.is_some());
        return None;
    }
    if visible.is_empty() {
        let text = if t.items.is_empty() {
            noun.none_yet.to_string()
        } else {
            format!(
                "No {} matches /{}. Esc clears the filter.",
                noun.one, t.filter
            )
        };
        placeholder(f, area, &text, false);
        return None;
    }
    Some((area, visible))
}

fn services(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.services;
    let noun = Noun {
        one: "service",
        many: "services",
        none_yet: "No services registered. a registers one.",
    };
    let Some((area, visible)) = filtered_rows(f, area, t, app.filtering, noun) else {
        return;
    };
    let [list, detail] = Layout::vertical([Constraint::Min(4), Constraint::Length(6)]).areas(area);
    let rows: Vec<Row> = visible
        .iter()
        .map(|s| {
            Row::new(vec![
                Cell::from(s.name.clone()),
                Cell::from(s.kind.clone()),
                Cell::from(s.auth.clone()),
                Cell::from(s.url.clone()),
                Cell::from(s.purl.clone()),
                Cell::from(if s.verify { "yes" } else { "no" }),
            ])
        })
        .collect();
    table(
        f,
        list,
        &["NAME", "TYPE", "AUTH", "URL", "PURL", "VERIFY"],
        &[
            Constraint::Length(widest(visible.iter().map(|s| s.name.as_str()), 4, 25)),
            Constraint::Length(5),
            Constraint::Length(7),
            Constraint::Fill(3),
            Constraint::Fill(2),
            Constraint::Length(6),
        ],
        rows,
        t.selected,
        format!(" Services ({}) ", t.items.len()),
    );
    if let Some(s) = t.current() {
        let auth = match s.auth.as_str() {
            "token" => "token: a bearer token with scope compute",
            "cert" => "cert: a client certificate checked in front",
            _ => "public: no token needed",
        };
        let mut lines = vec![
            Line::from(vec![
                Span::styled("URL     ", DIM),
                Span::raw(s.url.clone()),
            ]),
            Line::from(vec![
                Span::styled("Auth    ", DIM),
                Span::raw(auth),
                Span::styled("   verify TLS ", DIM),
                Span::raw(if s.verify { "yes" } else { "no" }),
            ]),
        ];
        match app.checks.get(&s.name) {
            None => lines.push(Line::from(Span::styled(
                "Check   not yet; c asks GetCapabilities through the proxy",
                DIM,
            ))),
            Some(c) => {
                let ok = matches!(c, Ok(c) if (200..300).contains(&c.status));
                let color = if ok { Color::Green } else { Color::Red };
                lines.push(Line::from(vec![
                    Span::styled("Check   ", DIM),
                    Span::styled(check_line(c), Style::new().fg(color)),
                ]));
                if let Ok(c) = c {
                    lines.push(Line::from(Span::styled(
                        format!(
                            "        GET {} → {}, {}",
                            c.path,
                            if c.content_type.is_empty() {
                                "no content type"
                            } else {
                                &c.content_type
                            },
                            fmt::bytes(c.bytes as u64)
                        ),
                        DIM,
                    )));
                }
            }
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(format!(" {} ", s.name))),
            detail,
        );
    }
}

fn clients(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.clients;
    let noun = Noun {
        one: "client",
        many: "clients",
        none_yet: "No client applications. a adds one.",
    };
    let Some((area, visible)) = filtered_rows(f, area, t, app.filtering, noun) else {
        return;
    };
    let rows: Vec<Row> = visible
        .iter()
        .map(|c| {
            // To the minute: `2024-05-01 12:00`.
            let created: String = fmt::utc(c.created_at).chars().take(16).collect();
            Row::new(vec![
                Cell::from(c.name.clone()),
                Cell::from(c.client_id.clone()),
                Cell::from(c.scope.join(" ")),
                Cell::from(c.redirect_uri.clone()),
                Cell::from(created),
                Cell::from(if app.secrets.contains_key(&c.client_id) {
                    "in session"
                } else {
                    "-"
                }),
            ])
        })
        .collect();
    table(
        f,
        area,
        &[
            "NAME",
            "CLIENT ID",
            "SCOPES",
            "REDIRECT URI",
            "CREATED",
            "SECRET",
        ],
        &[
            Constraint::Length(widest(visible.iter().map(|c| c.name.as_str()), 4, 24)),
            Constraint::Length(widest(visible.iter().map(|c| c.client_id.as_str()), 9, 40)),
            Constraint::Length(16),
            Constraint::Fill(1),
            Constraint::Length(16),
            Constraint::Length(10),
        ],
        rows,
        t.selected,
        format!(" Clients ({}) ", t.items.len()),
    );
}

/// `in 59m 12s`, `expired 3s ago`, or unknown.
fn countdown(t: &TokenEntry, now: u64) -> (String, Color) {
    match t.remaining(now) {
        None => ("expiry unknown".into(), Color::DarkGray),
        Some(s) if s > 0 => {
            let color = if s < 60 { Color::Yellow } else { Color::Green };
            (format!("in {}", fmt::duration(s as u64)), color)
        }
        Some(s) => (
            format!("expired {} ago", fmt::duration((-s) as u64)),
            Color::Red,
        ),
    }
}

fn token_state(t: &TokenEntry, now: u64) -> (&'static str, Color) {
    let inactive = matches!(&t.introspection, Some(Ok(i)) if !i.active);
    if t.revoked {
        ("revoked", Color::Red)
    } else if t.remaining(now).is_some_and(|s| s <= 0) {
        ("expired", Color::Red)
    } else if inactive {
        ("inactive", Color::Red)
    } else {
        ("active", Color::Green)
    }
}

fn tokens(f: &mut Frame, area: Rect, app: &App) {
    if app.tokens.is_empty() {
        return placeholder(
            f,
            area,
            "No tokens in this session. a issues one for a client (t on the Clients tab \
             does too); i introspects a pasted token.",
            false,
        );
    }
    let now = app.clock.unix;
    let [list, detail] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Min(20)]).areas(area);
    let rows: Vec<Row> = app
        .tokens
        .iter()
        .map(|t| {
            let (state, color) = token_state(t, now);
            // The client's name where the list knows it: ids are long.
            let who = match &t.origin {
                Origin::Issued(id) => app
                    .clients
                    .items
                    .iter()
                    .find(|c| c.client_id == *id)
                    .map_or(id.clone(), |c| c.name.clone()),
                Origin::Pasted => "(pasted)".into(),
            };
            let left = match t.remaining(now) {
                Some(s) if s > 0 => fmt::duration(s as u64),
                Some(_) => "-".into(),
                None => "?".into(),
            };
            Row::new(vec![
                Cell::from(Span::styled(state, Style::new().fg(color))),
                Cell::from(t.scope.clone()),
                Cell::from(who),
                Cell::from(left),
            ])
        })
        .collect();
    table(
        f,
        list,
        &["STATE", "SCOPE", "CLIENT", "LEFT"],
        &[
            Constraint::Length(8),
            Constraint::Length(widest(app.tokens.iter().map(|t| t.scope.as_str()), 5, 16)),
            Constraint::Fill(1),
            Constraint::Length(7),
        ],
        rows,
        app.token_selected,
        format!(" Tokens ({}) ", app.tokens.len()),
    );
    let Some(t) = app.tokens.get(app.token_selected) else {
        return;
    };
    let block = Block::bordered().title(" Token ");
    let inner = block.inner(detail);
    f.render_widget(block, detail);
    let [gauge, text] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let (left, color) = countdown(t, now);
    let ratio = match (t.remaining(now), t.lifetime()) {
        (Some(r), Some(life)) if life > 0 => (r.max(0) as f64 / life as f64).min(1.0),
        _ => 0.0,
    };
    f.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(match t.remaining(now) {
                Some(s) if s > 0 => format!("expires {left}"),
                _ => left.clone(),
            })
            .gauge_style(Style::new().fg(color).bg(Color::Black)),
        gauge,
    );
    let (state, state_color) = token_state(t, now);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("State    ", DIM),
            Span::styled(
                state,
                Style::new().fg(state_color).add_modifier(Modifier::BOLD),
            ),
        ]),
        Line::from(vec![
            Span::styled("Client   ", DIM),
            Span::raw(match &t.origin {
                Origin::Issued(id) => format!("{id} (issued here)"),
                Origin::Pasted => "pasted".into(),
            }),
        ]),
        Line::from(vec![
            Span::styled("Expires  ", DIM),
            Span::raw(match t.expires_at {
                Some(e) => format!("{} ({left})", fmt::utc(e)),
                None => left.clone(),
            }),
        ]),
    ];
    match &t.claims {
        Some(c) => {
            lines.push(Line::from(vec![
                Span::styled("Kind     ", DIM),
                Span::raw(format!("JWT, {}; claims read without the key", c.alg)),
            ]));
            let pad = c.claims.iter().map(|(k, _)| k.width()).max().unwrap_or(0) + 2;
            for (k, v) in &c.claims {
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("  {k}{}", " ".repeat(pad - k.width())),
                        Style::new().fg(Color::Cyan),
                    ),
                    Span::raw(v.clone()),
                ]));
            }
        }
        None => lines.push(Line::from(vec![
            Span::styled("Kind     ", DIM),
            Span::raw("opaque token: no claims to read; Enter asks the server"),
        ])),
    }
    match &t.introspection {
        None => {}
        Some(Ok(i)) => {
            let mut parts = vec![if i.active { "active" } else { "not active" }.to_string()];
            if let Some(s) = &i.scope {
                parts.push(format!("scope {s}"));
            }
            if let Some(c) = &i.client_id {
                parts.push(format!("client {c}"));
            }
            if let Some(e) = i.exp {
                parts.push(format!("exp {}", fmt::utc(e)));
            }
            lines.push(Line::from(vec![
                Span::styled("Server   ", DIM),
                Span::raw(parts.join(", ")),
            ]));
        }
        Some(Err(e)) => lines.push(Line::from(vec![
            Span::styled("Server   ", DIM),
            Span::styled(e.clone(), Style::new().fg(Color::Red)),
        ])),
    }
    lines.push(Line::from(Span::styled("Token", DIM)));
    lines.push(Line::from(t.token.clone()));
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text);
}

fn traffic(f: &mut Frame, area: Rect, app: &App) {
    let tr = &app.traffic;
    let Some(latest) = &tr.latest else {
        let text = match &tr.error {
            Some(e) => format!("Cannot read GET /stats: {e}"),
            None => "Waiting for the first GET /stats…".to_string(),
        };
        return placeholder(f, area, &text, tr.error.is_some());
    };
    let [summary, rate, middle, services] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(4),
        Constraint::Min(7),
        Constraint::Min(4),
    ])
    .areas(area);
    let now = tr.window.as_ref().map_or(0.0, |w| w.rate);
    let mut s = vec![
        Span::styled("requests ", DIM),
        Span::raw(latest.requests.to_string()),
        Span::styled("  now ", DIM),
        Span::raw(format!("{now:.1}/s")),
        // The count includes the /stats request that read it.
        Span::styled("  in flight ", DIM),
        Span::raw(latest.in_flight.saturating_sub(1).to_string()),
        Span::styled("  sent ", DIM),
        Span::raw(fmt::bytes(latest.bytes_sent)),
        Span::styled("  up ", DIM),
        Span::raw(fmt::duration(latest.uptime_seconds)),
    ];
    if let Some(e) = &tr.error {
        s.push(Span::styled(
            format!("  (stale: {e})"),
            Style::new().fg(Color::Red),
        ));
    }
    let mix = match &tr.window {
        None => "last second: –".to_string(),
        Some(w) => {
            let parts: Vec<String> = CLASSES
                .iter()
                .zip(w.classes)
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            format!(
                "last second: {} request{}{}{}",
                w.requests,
                if w.requests == 1 { "" } else { "s" },
                if parts.is_empty() { "" } else { ": " },
                parts.join(" ")
            )
        }
    };
    f.render_widget(
        Paragraph::new(vec![Line::from(s), Line::from(Span::styled(mix, DIM))]),
        summary,
    );

    let width = rate.width.saturating_sub(2) as usize;
    let tail = |q: &std::collections::VecDeque<f64>| -> Vec<u64> {
        let skip = q.len().saturating_sub(width);
        q.iter()
            .skip(skip)
            .map(|v| (v * 100.0).round() as u64)
            .collect()
    };
    let peak = tr.rate.iter().copied().fold(0.0, f64::max);
    f.render_widget(
        Sparkline::default()
            .data(tail(&tr.rate))
            .style(Style::new().fg(Color::Green))
            .block(Block::bordered().title(format!(
                " requests/s  now {now:.1}  peak {peak:.1}  (polled every second, polls included) "
            ))),
        rate,
    );

    let [codes, latency] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(middle);
    let total: u64 = latest.status.values().sum();
    let bars: Vec<Bar> = CLASSES
        .iter()
        .map(|c| {
            let n = latest.status.get(*c).copied().unwrap_or(0);
            let pct = if total == 0 {
                0.0
            } else {
                n as f64 * 100.0 / total as f64
            };
            let color = match *c {
                "2xx" => Color::Green,
                "3xx" => Color::Cyan,
                "4xx" => Color::Yellow,
                "5xx" => Color::Red,
                _ => Color::Gray,
            };
            Bar::default()
                .label(Line::from(*c))
                .value(n)
                .text_value(format!("{n} ({pct:.0}%)"))
                .style(Style::new().fg(color))
        })
        .collect();
    f.render_widget(
        BarChart::default()
            .direction(Direction::Horizontal)
            .data(BarGroup::default().bars(&bars))
            .bar_width(1)
            .bar_gap(0)
            .block(Block::bordered().title(" status codes since start ")),
        codes,
    );

    let block = Block::bordered().title(" latency ");
    let inner = block.inner(latency);
    f.render_widget(block, latency);
    let [numbers, spark] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(inner);
    let ms = |v: Option<f64>| v.map_or("–".to_string(), fmt::millis);
    let (w50, w99) = tr.window.as_ref().map_or((None, None), |w| (w.p50, w.p99));
    let l = &latest.latency_ms;
    f.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled("last second  p50 ", DIM),
                Span::raw(ms(w50)),
                Span::styled("  p99 ", DIM),
                Span::raw(ms(w99)),
            ]),
            Line::from(vec![
                Span::styled("since start  p50 ", DIM),
                Span::raw(fmt::millis(l.p50)),
                Span::styled("  p90 ", DIM),
                Span::raw(fmt::millis(l.p90)),
                Span::styled("  p99 ", DIM),
                Span::raw(fmt::millis(l.p99)),
            ]),
        ]),
        numbers,
    );
    let skip = tr.p99.len().saturating_sub(spark.width as usize);
    let p99: Vec<u64> = tr
        .p99
        .iter()
        .skip(skip)
        .map(|v| (v * 1000.0).round() as u64)
        .collect();
    f.render_widget(
        Sparkline::default()
            .data(p99)
            .style(Style::new().fg(Color::Magenta)),
        spark,
    );

    if latest.services.is_empty() {
        return placeholder(
            f,
            services,
            "No OWS requests yet: the top services show here.",
            false,
        );
    }
    let fits = services.height.saturating_sub(2) as usize;
    let bars: Vec<Bar> = latest
        .services
        .iter()
        .take(fits.max(1))
        .map(|s| {
            let last = tr
                .window
                .as_ref()
                .and_then(|w| w.services.get(&s.name))
                .copied()
                .unwrap_or(0);
            Bar::default()
                .label(Line::from(s.name.clone()))
                .value(s.requests)
                .text_value(format!("{} (+{last}, {} refused)", s.requests, s.refused))
                .style(Style::new().fg(Color::Blue))
        })
        .collect();
    f.render_widget(
        BarChart::default()
            .direction(Direction::Horizontal)
            .data(BarGroup::default().bars(&bars))
            .bar_width(1)
            .bar_gap(0)
            .block(Block::bordered().title(" top services by requests since start ")),
        services,
    );
}

fn health(h: &Result<crate::client::Health, crate::client::Error>) -> Span<'static> {
    match h {
        Ok(h) => {
            let color = if h.status == "ok" {
                Color::Green
            } else {
                Color::Red
            };
            let mut text = h.status.clone();
            if let Some(r) = &h.reason {
                text.push_str(&format!(": {r}"));
            }
            Span::styled(text, Style::new().fg(color))
        }
        Err(e) => Span::styled(e.to_string(), Style::new().fg(Color::Red)),
    }
}

fn server(f: &mut Frame, area: Rect, app: &App) {
    let info = match &app.server {
        None => return placeholder(f, area, "Asking the server…", false),
        Some(Err(e)) => {
            return placeholder(
                f,
                area,
                &format!("Cannot read GET /info: {e}\nr tries again."),
                true,
            );
        }
        Some(Ok(i)) => i,
    };
    let [top, settings] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
    let [about, versions] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(top);
    let field = |name: &'static str, value: Span<'static>| {
        Line::from(vec![Span::styled(format!("{name:<9}"), DIM), value])
    };
    let lines = vec![
        field("Server", Span::raw(app.server_url.clone())),
        field("As", Span::raw(app.username.clone())),
        field(
            "Package",
            Span::raw(format!("{} {}", info.info.package, info.info.version)),
        ),
        field(
            "Latency",
            Span::raw(format!(
                "{} (GET /info)",
                fmt::millis(info.latency.as_secs_f64() * 1000.0)
            )),
        ),
        field("Health", health(&info.health)),
        field("Ready", health(&info.readiness)),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Server (GET /info, /healthz, /readyz) ")),
        about,
    );
    let lines: Vec<Line> = match &info.versions {
        Ok(vs) => vs
            .iter()
            .map(|v| Line::from(format!("{} {} ({})", v.name, v.version, v.kind)))
            .collect(),
        Err(e) => vec![Line::from(Span::styled(
            e.to_string(),
            Style::new().fg(Color::Red),
        ))],
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Versions (GET /versions) ")),
        versions,
    );
    let report = match &info.settings {
        Err(e) => {
            return placeholder(
                f,
                settings,
                &format!("Cannot read GET /settings: {e}"),
                true,
            );
        }
        Ok(r) => r,
    };
    let rows: Vec<Row> = report
        .settings
        .iter()
        .map(|s| {
            let style = if s.source == "default" {
                DIM
            } else {
                Style::new()
            };
            Row::new(vec![
                Cell::from(s.key.clone()),
                Cell::from(s.value.clone()),
                Cell::from(s.source.clone()),
            ])
            .style(style)
        })
        .collect();
    let widest = |col: fn(&crate::client::Setting) -> &str| {
        report
            .settings
            .iter()
            .map(|s| col(s).width())
            .max()
            .unwrap_or(0) as u16
    };
    let file = report.config_file.as_deref().unwrap_or("none");
    let mut state = TableState::default().with_selected(Some(app.setting_selected));
    f.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Length(widest(|s| &s.key).max(3)),
                Constraint::Fill(1),
                Constraint::Length(widest(|s| &s.source).max(6)),
            ],
        )
        .header(Row::new(["KEY", "VALUE", "SOURCE"]).style(BOLD.fg(Color::Cyan)))
        .row_highlight_style(SELECTED)
        .highlight_symbol(MARK)
        .highlight_spacing(HighlightSpacing::Always)
        .block(Block::bordered().title(format!(
            " Settings in force, secrets masked (GET /settings; config file: {file}) {}/{} ",
            (app.setting_selected + 1).min(report.settings.len()),
            report.settings.len()
        ))),
        settings,
        &mut state,
    );
}

/// A box of `w` x `h` in the middle of `area`, cleared.
fn overlay_area(f: &mut Frame, area: Rect, w: u16, h: u16) -> Rect {
    let r = area.centered(
        Constraint::Length(w.min(area.width)),
        Constraint::Length(h.min(area.height)),
    );
    f.render_widget(Clear, r);
    r
}

/// The help in two columns when they fit; otherwise in one, scrolled down `top` lines.
fn help(f: &mut Frame, area: Rect, top: u16) {
    let r = overlay_area(
        f,
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let total = usize::from(help_lines());
    // Sections fill the left column, then the right.
    let mut cols: [Vec<Line>; 2] = [Vec::new(), Vec::new()];
    for (title, keys) in HELP {
        let lines = &mut cols[usize::from(cols[0].len() >= total.div_ceil(2))];
        lines.push(Line::from(Span::styled(*title, BOLD.fg(Color::Cyan))));
        for (k, what) in *keys {
            lines.push(Line::from(vec![
                Span::styled(format!("  {k:<16}"), BOLD.fg(Color::Yellow)),
                Span::raw(*what),
            ]));
        }
        lines.push(Line::from(""));
    }
    let inner = Block::bordered().inner(r);
    let two_fit =
        inner.width >= 80 && cols[0].len().max(cols[1].len()) <= usize::from(inner.height);
    let fits = two_fit || total <= usize::from(inner.height);
    let title = if fits {
        " Keys (any key closes) "
    } else {
        " Keys (↑↓ PgUp PgDn scroll, any other key closes) "
    };
    let block = Block::bordered()
        .title(title)
        .border_style(Style::new().fg(Color::Yellow));
    f.render_widget(block, r);
    if two_fit {
        let columns = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .split(inner);
        for (lines, area) in cols.into_iter().zip(columns.iter()) {
            f.render_widget(Paragraph::new(lines), *area);
        }
        return;
    }
    let [left, right] = cols;
    let all: Vec<Line> = left.into_iter().chain(right).collect();
    // The last page stays full: no scrolling past the end.
    let last_top =
        u16::try_from(total.saturating_sub(usize::from(inner.height))).unwrap_or(u16::MAX);
    f.render_widget(Paragraph::new(all).scroll((top.min(last_top), 0)), inner);
}

/// The text shown for a field's value, and the cursor's column in it. Widths are
/// terminal cells, so a wide character (気) takes two and the cursor stays after it.
fn field_text(input: &Input, secret: bool, width: usize) -> (String, Option<usize>) {
    match input {
        Input::Text(t) => {
            let chars: Vec<(char, usize)> = t
                .value()
                .chars()
                .map(|c| {
                    let c = if secret { '•' } else { c };
                    (c, c.width().unwrap_or(0))
                })
                .collect();
            // Scroll so the cursor, and one cell for it, stay in view.
            let width = width.max(1);
            let mut start = t.cursor();
            let mut before = 0;
            while start > 0 && before + chars[start - 1].1 < width {
                start -= 1;
                before += chars[start].1;
            }
            let mut shown = String::new();
            let mut used = 0;
            for &(c, w) in &chars[start..] {
                if used + w > width {
                    break;
                }
                shown.push(c);
                used += w;
            }
            (shown, Some(before))
        }
        Input::Choice { options, index } => (format!("‹ {} ›", options[*index]), None),
        Input::Switch(on) => (if *on { "[x] yes" } else { "[ ] no" }.to_string(), None),
    }
}

fn form_popup(f: &mut Frame, area: Rect, form: &Form) {
    // Fields, a blank line, the focused field's whole error, and the hint.
    let h = form.fields.len() as u16 + 5;
    let r = overlay_area(f, area, area.width.saturating_sub(4).min(100), h);
    let block = Block::bordered()
        .title(format!(" {} ", form.title))
        .border_style(Style::new().fg(Color::Cyan));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let verdicts = form.verdicts();
    let label_w: u16 = 14;
    let rest = inner.width.saturating_sub(label_w);
    let input_w = rest / 2;
    for (i, field) in form.fields.iter().enumerate() {
        let y = inner.y + 1 + i as u16;
        if y >= inner.bottom() {
            break;
        }
        let focused = i == form.focus;
        let label_area = Rect::new(inner.x, y, label_w.min(inner.width), 1);
        let input_area = Rect::new(inner.x + label_w, y, input_w, 1).intersection(inner);
        let verdict_area = Rect::new(
            inner.x + label_w + input_w + 1,
            y,
            rest.saturating_sub(input_w + 1),
            1,
        )
        .intersection(inner);
        let label_style = if focused {
            BOLD.fg(Color::Yellow)
        } else {
            Style::new()
        };
        f.render_widget(
            Paragraph::new(format!("{:>12}  ", field.label)).style(label_style),
            label_area,
        );
        let (text, cursor) = field_text(&field.input, field.secret, input_area.width as usize);
        let style = if field.locked {
            DIM
        } else if focused {
            Style::new().bg(Color::DarkGray).fg(Color::White)
        } else {
            Style::new().add_modifier(Modifier::UNDERLINED)
        };
        f.render_widget(
            Paragraph::new(format!("{text:<w$}", w = input_area.width as usize)).style(style),
            input_area,
        );
        if let (true, Some(c)) = (focused && !field.locked, cursor) {
            f.set_cursor_position((input_area.x + c as u16, y));
        }
        let verdict = match &verdicts[i] {
            Verdict::Fine => Span::styled("✓", Style::new().fg(Color::Green)),
            Verdict::Note(n) => Span::styled(n.clone(), DIM),
            Verdict::Wrong(e) if form.shows_errors(i) => {
                Span::styled(format!("✗ {e}"), Style::new().fg(Color::Red))
            }
            Verdict::Wrong(_) => Span::raw(""),
        };
        f.render_widget(Paragraph::new(Line::from(verdict)), verdict_area);
    }
    let hint_y = inner.y + inner.height.saturating_sub(1);
    // The column beside a field holds a short error only; the focused one's is
    // written out whole here.
    let message_y = hint_y.saturating_sub(1);
    if message_y > inner.y + form.fields.len() as u16
        && let Verdict::Wrong(e) = &verdicts[form.focus]
        && form.shows_errors(form.focus)
    {
        f.render_widget(
            Paragraph::new(Span::styled(
                format!("✗ {}: {e}", form.fields[form.focus].label),
                Style::new().fg(Color::Red),
            )),
            Rect::new(inner.x, message_y, inner.width, 1),
        );
    }
    if hint_y > inner.y + form.fields.len() as u16 {
        f.render_widget(
            Paragraph::new(Span::styled(
                "Enter submits · Esc cancels · Tab moves · ← → Space change choices",
                DIM,
            )),
            Rect::new(inner.x, hint_y, inner.width, 1),
        );
    }
}

fn confirm(f: &mut Frame, area: Rect, question: &str) {
    let w = (question.width() as u16 + 6).clamp(30, area.width.saturating_sub(4));
    let r = overlay_area(f, area, w, 6);
    f.render_widget(
        Paragraph::new(vec![
            Line::from(""),
            Line::from(question.to_string().bold()),
            Line::from(""),
            Line::from(vec![
                Span::styled("y", BOLD.fg(Color::Yellow)),
                Span::raw(" yes    "),
                Span::styled("n", BOLD.fg(Color::Yellow)),
                Span::raw(" no"),
            ]),
        ])
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .block(
            Block::bordered()
                .title(" Confirm ")
                .border_style(Style::new().fg(Color::Red)),
        ),
        r,
    );
}

fn popup(f: &mut Frame, area: Rect, p: &Popup) {
    let widest = p
        .lines
        .iter()
        .map(|(_, l)| l.width())
        .max()
        .unwrap_or(0)
        .max(p.title.width() + 2) as u16;
    let r = overlay_area(f, area, widest + 4, p.lines.len() as u16 + 2);
    let lines: Vec<Line> = p
        .lines
        .iter()
        .map(|(e, l)| {
            let style = match e {
                Emphasis::Plain => Style::new(),
                Emphasis::Strong => BOLD,
                Emphasis::Warning => BOLD.fg(Color::Black).bg(Color::Yellow),
                Emphasis::Secret => BOLD.fg(Color::Yellow),
            };
            Line::from(Span::styled(l.clone(), style))
        })
        .collect();
    f.render_widget(
        Paragraph::new(Text::from(lines))
            .wrap(Wrap { trim: false })
            .block(
                Block::bordered()
                    .title(format!(" {} ", p.title))
                    .border_style(Style::new().fg(Color::Yellow)),
            ),
        r,
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::client::{
        self, CapabilitiesCheck, ClientInfo, Health, Info, NewClient, Percentiles, Service,
        ServiceCounts, Setting, SettingsReport, Stats, Token, Version,
    };
    use crate::tui::app::{Clock, Msg};
    use crate::tui::worker::{Reply, ServerInfo};

    fn screen(app: &App, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, app)).unwrap();
        let buf = t.backend().buffer();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_fields_cursor_is_placed_in_cells() {
        let mut t = crate::tui::form::TextInput::new("気象ab");
        let (text, cursor) = field_text(&Input::Text(t.clone()), false, 20);
        assert_eq!((text.as_str(), cursor), ("気象ab", Some(6)));
        // Scrolled: the cursor's cell stays inside 6 cells, wide characters whole.
        let mut long = crate::tui::form::TextInput::new("気象観測所");
        let (text, cursor) = field_text(&Input::Text(long.clone()), false, 6);
        assert_eq!((text.as_str(), cursor), ("測所", Some(4)));
        long.on_key(KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
        let (text, cursor) = field_text(&Input::Text(long), false, 6);
        assert_eq!((text.as_str(), cursor), ("気象観", Some(0)));
        t.on_key(KeyEvent::new(KeyCode::Left, KeyModifiers::NONE));
        t.on_key(KeyEvent::new(KeyCode::Left, KeyModifiers::NONE));
        let (_, cursor) = field_text(&Input::Text(t), false, 20);
        assert_eq!(cursor, Some(4), "after 気象");
    }

    /// 2500 keys, pastes, ticks and server answers in a seeded random order,
    /// each followed by a draw at a random size down to 1×1: no state or size the
    /// keyboard can reach makes the TUI panic.
    #[test]
    fn random_keys_answers_and_sizes_never_panic() {
        let mut next = crate::test_support::seeded(0x9e37_79b9_7f4a_7c15);
        let codes = [
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Backspace,
            KeyCode::Delete,
            KeyCode::F(1),
        ];
        let chars: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789?/ PRDKNCEX気é:-_.\t"
            .chars()
            .filter(|c| *c != 'q' && *c != 'Q')
            .collect();
        let sizes = [
            (1, 1),
            (2, 3),
            (7, 4),
            (12, 6),
            (25, 9),
            (41, 13),
            (80, 24),
            (171, 52),
        ];
        let mut a = app();
        let mut unix = 1_700_000_000;
        for step in 0..2500u64 {
            let msg = match next(20) {
                0..=9 => Msg::Key(KeyEvent::new(
                    KeyCode::Char(chars[next(chars.len())]),
                    if next(8) == 0 {
                        KeyModifiers::CONTROL
                    } else {
                        KeyModifiers::NONE
                    },
                )),
                10..=14 => Msg::Key(KeyEvent::new(codes[next(codes.len())], KeyModifiers::NONE)),
                15 => Msg::Paste("http://h/気象 a\nb".into()),
                16 => {
                    unix += next(4000) as u64;
                    Msg::Tick(Clock {
                        since_start: Duration::from_millis(step * 250),
                        unix,
                    })
                }
                17 => Msg::Reply(Reply::Services(match next(3) {
                    0 => Err(client::Error::Unreachable {
                        url: "http://127.0.0.1:8000".into(),
                        reason: "refused".into(),
                    }),
                    n => Ok((0..n * 7)
                        .map(|i| Service {
                            url: format!("http://h{i}/wps"),
                            name: format!("観測_{i}"),
                            kind: "wps".into(),
                            purl: String::new(),
                            auth: if i % 2 == 0 { "token" } else { "public" }.into(),
                            public: i % 2 == 1,
                            verify: true,
                        })
                        .collect()),
                })),
                18 => Msg::Reply(Reply::Clients(Ok(vec![]))),
                _ => Msg::Reply(Reply::Server(if next(2) == 0 {
                    Ok(Box::new(server_info()))
                } else {
                    Err(client::Error::Refused {
                        status: 401,
                        message: "Admin credentials".into(),
                    })
                })),
            };
            let _ = a.update(msg);
            if a.quit {
                a = app();
            }
            let (w, h) = sizes[next(sizes.len())];
            let _ = screen(&a, w, h);
        }
    }

    fn key(app: &mut App, c: char) {
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }

    fn app() -> App {
        let mut a = App::new("http://127.0.0.1:8000", "admin");
        a.start();
        a.update(Msg::Tick(Clock {
            since_start: Duration::from_secs(1),
            unix: 1_700_000_000,
        }));
        a.update(Msg::Reply(Reply::Services(Ok(vec![
            Service {
                url: "http://localhost:5000/wps".into(),
                name: "emu".into(),
                kind: "wps".into(),
                purl: String::new(),
                auth: "token".into(),
                public: false,
                verify: true,
            },
            Service {
                url: "http://maps/wms".into(),
                name: "finch".into(),
                kind: "wms".into(),
                purl: "https://pub/wms".into(),
                auth: "public".into(),
                public: true,
                verify: false,
            },
        ]))));
        a.update(Msg::Reply(Reply::Clients(Ok(vec![ClientInfo {
            name: "demo_app".into(),
            client_id: "4f1c9a".into(),
            redirect_uri: "http://app/cb".into(),
            scope: vec!["compute".into()],
            created_at: 1_700_000_000,
        }]))));
        a
    }

    #[test]
    fn services_tab_shows_the_table_the_selection_and_its_check() {
        let mut a = app();
        a.update(Msg::Reply(Reply::Checked(
            "emu".into(),
            Ok(CapabilitiesCheck {
                path: "/ows/proxy/emu?service=WPS&request=GetCapabilities".into(),
                status: 200,
                latency: Duration::from_millis(7),
                content_type: "text/xml".into(),
                bytes: 2048,
                scan: crate::ows::capabilities::Scan {
                    root: "Capabilities".into(),
                    operations: vec!["GetCapabilities".into(), "Execute".into()],
                    exception: None,
                    error: None,
                },
            }),
        )));
        let s = screen(&a, 120, 30);
        for want in [
            "1 Services",
            "5 Server",
            "▶ emu",
            "NAME",
            "PURL",
            "VERIFY",
            "emu",
            "http://localhost:5000/wps",
            "finch",
            "https://pub/wms",
            "Check   HTTP 200 in 7.00 ms, operations: GetCapabilities Execute",
            "text/xml, 2.0 KiB",
            "a register",
            "c check backend",
            "? help",
        ] {
            assert!(s.contains(want), "{want:?} missing from\n{s}");
        }
    }

    #[test]
    fn the_filter_shows_what_it_lets_through() {
        let mut a = app();
        key(&mut a, '/');
        for c in "wms".chars() {
            key(&mut a, c);
        }
        let s = screen(&a, 100, 20);
        assert!(s.contains("/wms▏") && s.contains("1 of 2"), "{s}");
        assert!(s.contains("finch") && !s.contains("localhost:5000"), "{s}");
        assert!(s.contains("Enter keep filter"), "{s}");
        for c in "zzz".chars() {
            key(&mut a, c);
        }
        assert!(screen(&a, 100, 20).contains("No service matches /wmszzz"));
    }

    #[test]
    fn clients_tab() {
        let mut a = app();
        a.secrets.insert("4f1c9a".into(), "x".into());
        key(&mut a, '2');
        let s = screen(&a, 120, 20);
        for want in [
            "CLIENT ID",
            "demo_app",
            "4f1c9a",
            "compute",
            "http://app/cb",
            "2023-11-14 22:13",
            "in session",
            "t issue a token",
        ] {
            assert!(s.contains(want), "{want:?} missing from\n{s}");
        }
        assert!(!s.contains(" x "), "a secret is never listed");
        key(&mut a, '/');
        for c in "nomatch".chars() {
            key(&mut a, c);
        }
        let s = screen(&a, 120, 20);
        assert!(s.contains("No client matches /nomatch"), "{s}");
    }

    #[test]
    fn signing_in_on_request_does_not_blame_the_server() {
        let mut a = app();
        key(&mut a, 'P');
        let s = screen(&a, 100, 30);
        assert!(s.contains("Sign in (the admin's user and password)"), "{s}");
        assert!(!s.contains("refused"), "{s}");
    }

    #[test]
    fn list_tabs_say_when_they_are_loading() {
        let mut a = App::new("http://127.0.0.1:8000", "admin");
        a.start();
        assert!(screen(&a, 100, 20).contains("Loading services…"));
        key(&mut a, '2');
        assert!(screen(&a, 100, 20).contains("Loading clients…"));
    }

    #[test]
    fn a_new_secret_is_shown_once_and_marked() {
        let mut a = app();
        a.update(Msg::Reply(Reply::ClientAdded(Ok(NewClient {
            name: "tui_app".into(),
            client_id: "id-9".into(),
            client_secret: "S3CRET-VALUE".into(),
            redirect_uri: String::new(),
            scope: vec!["compute".into()],
        }))));
        let s = screen(&a, 100, 24);
        assert!(s.contains("copy its secret now"), "{s}");
        assert!(s.contains("Client secret: S3CRET-VALUE"), "{s}");
        assert!(s.contains("shown ONLY NOW"), "{s}");
        a.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(!screen(&a, 100, 24).contains("S3CRET-VALUE"));
    }

    #[test]
    fn tokens_tab_decodes_claims_and_counts_down() {
        use base64::Engine;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.sig",
            e(r#"{"alg":"HS256"}"#),
            e(
                r#"{"iss":"twitcher","sub":"4f1c9a","scope":"compute","iat":1700000000,"exp":1700003600}"#
            )
        );
        let mut a = app();
        a.update(Msg::Reply(Reply::Token {
            client_id: "4f1c9a".into(),
            client_secret: "x".into(),
            result: Ok(Token {
                access_token: token.clone(),
                expires_in: Some(3600),
                token_type: "Bearer".into(),
                scope: Some("compute".into()),
            }),
        }));
        a.update(Msg::Tick(Clock {
            since_start: Duration::from_secs(2),
            unix: 1_700_000_048,
        }));
        let s = screen(&a, 130, 30);
        for want in [
            "active",
            "demo_app",
            "59m 12s",
            "JWT, HS256",
            "iss    twitcher",
            "in 59m 12s",
            "2023-11-14 23:13:20 UTC",
            "i introspect a pasted token",
            &token[..20],
        ] {
            assert!(s.contains(want), "{want:?} missing from\n{s}");
        }
        a.update(Msg::Tick(Clock {
            since_start: Duration::from_secs(3),
            unix: 1_700_003_605,
        }));
        let lapsed = screen(&a, 130, 30);
        assert!(lapsed.contains("expired 5s ago"), "{lapsed}");
        assert!(!lapsed.contains("expires expired"), "{lapsed}");
    }

    #[test]
    fn traffic_tab_plots_rates_codes_latency_and_services() {
        let mut a = app();
        key(&mut a, '4');
        let snap = |requests: u64, ok: u64, emu: u64, slow: u64| Stats {
            uptime_seconds: 60 + requests,
            requests,
            in_flight: 1,
            bytes_sent: 123_456,
            status: [("2xx".into(), ok), ("4xx".into(), requests - ok)]
                .into_iter()
                .collect(),
            latency_ms: Percentiles {
                p50: 0.5,
                p90: 2.0,
                p99: 9.5,
            },
            latency_buckets: vec![(0.5, requests - slow), (9.5, slow)],
            services: vec![
                ServiceCounts {
                    name: "emu".into(),
                    requests: emu,
                    refused: 3,
                },
                ServiceCounts {
                    name: "finch".into(),
                    requests: 4,
                    refused: 0,
                },
            ],
            other_services: 0,
        };
        assert!(screen(&a, 100, 30).contains("Waiting for the first GET /stats"));
        a.update(Msg::Reply(Reply::Stats {
            at: Duration::from_secs(1),
            result: Ok(snap(100, 90, 40, 1)),
        }));
        a.update(Msg::Reply(Reply::Stats {
            at: Duration::from_secs(2),
            result: Ok(snap(150, 130, 70, 2)),
        }));
        let s = screen(&a, 110, 34);
        for want in [
            "requests 150",
            "now 50.0/s",
            "in flight 0",
            "sent 120.6 KiB",
            "requests/s",
            "2xx",
            "130 (87%)",
            "last second: 50 requests: 2xx 40 4xx 10",
            "p50 0.50 ms",
            "p99 9.50 ms",
            "since start",
            "emu",
            "70 (+30, 3 refused)",
            "finch",
        ] {
            assert!(s.contains(want), "{want:?} missing from\n{s}");
        }
    }

    fn server_info() -> ServerInfo {
        ServerInfo {
            info: Info {
                package: "twitcher".into(),
                version: "0.12.0".into(),
            },
            latency: Duration::from_micros(1500),
            versions: Ok(vec![Version {
                name: "Twitcher".into(),
                version: "0.12.0".into(),
                kind: "application".into(),
            }]),
            settings: Ok(SettingsReport {
                config_file: Some("/etc/twitcher.ini".into()),
                settings: vec![
                    Setting {
                        key: "twitcher.password".into(),
                        value: "******** (set)".into(),
                        source: "env TWITCHER_PASSWORD".into(),
                    },
                    Setting {
                        key: "twitcher.token.type".into(),
                        value: "custom_token".into(),
                        source: "ini".into(),
                    },
                ],
            }),
            health: Ok(Health {
                status: "ok".into(),
                reason: None,
            }),
            readiness: Ok(Health {
                status: "unavailable".into(),
                reason: Some("database is locked".into()),
            }),
        }
    }

    #[test]
    fn server_tab_shows_info_versions_health_and_masked_settings() {
        let mut a = app();
        key(&mut a, '5');
        assert!(screen(&a, 120, 24).contains("Asking the server"));
        a.update(Msg::Reply(Reply::Server(Ok(Box::new(server_info())))));
        let s = screen(&a, 130, 24);
        for want in [
            "twitcher 0.12.0",
            "1.50 ms (GET /info)",
            "Twitcher 0.12.0 (application)",
            "Versions (GET /versions)",
            "unavailable: database is locked",
            "config file: /etc/twitcher.ini",
            "twitcher.password",
            "******** (set)",
            "env TWITCHER_PASSWORD",
            "custom_token",
            "r refresh",
        ] {
            assert!(s.contains(want), "{want:?} missing from\n{s}");
        }
    }

    #[test]
    fn the_settings_table_scrolls_to_the_selection() {
        let mut a = app();
        let mut info = server_info();
        if let Ok(r) = &mut info.settings {
            r.settings = (0..60)
                .map(|i| Setting {
                    key: format!("key.number{i:02}"),
                    value: i.to_string(),
                    source: "default".into(),
                })
                .collect();
        }
        a.update(Msg::Reply(Reply::Server(Ok(Box::new(info)))));
        key(&mut a, '5');
        let s = screen(&a, 100, 24);
        assert!(
            s.contains("key.number00") && !s.contains("key.number59"),
            "{s}"
        );
        assert!(s.contains("1/60"), "{s}");
        key(&mut a, 'G');
        let s = screen(&a, 100, 24);
        assert!(
            s.contains("key.number59") && !s.contains("key.number00"),
            "{s}"
        );
        assert!(s.contains("60/60"), "{s}");
        key(&mut a, 'k');
        assert_eq!(a.setting_selected, 58);
    }

    #[test]
    fn forms_show_errors_as_you_type() {
        let mut a = app();
        key(&mut a, 'a');
        let s = screen(&a, 100, 24);
        assert!(
            s.contains("Register a service") && s.contains("empty: a generated name"),
            "{s}"
        );
        assert!(
            !s.contains("required"),
            "no error before a field is touched:\n{s}"
        );
        a.update(Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)));
        for c in "ftp://x".chars() {
            key(&mut a, c);
        }
        let s = screen(&a, 100, 24);
        assert!(s.contains("ftp://x"), "{s}");
        assert!(s.contains("✗ must be an http:// or https:// URL"), "{s}");
        // Whole, below the fields, where the column beside the field is too narrow.
        assert!(
            s.contains("✗ URL: must be an http:// or https:// URL with a host"),
            "{s}"
        );
        assert!(s.contains("Tab ↓/S-Tab ↑ next/previous field"), "{s}");
        // The secret of the token form is masked.
        let mut a = app();
        a.secrets.insert("4f1c9a".into(), "hunter2".into());
        key(&mut a, '2');
        key(&mut a, 't');
        let s = screen(&a, 100, 24);
        assert!(s.contains("•••••••") && !s.contains("hunter2"), "{s}");
    }

    #[test]
    fn confirmations_and_help_draw_over_the_tab() {
        let mut a = app();
        key(&mut a, 'd');
        let s = screen(&a, 100, 24);
        assert!(
            s.contains("Unregister service emu") && s.contains("y yes"),
            "{s}"
        );
        let mut a = app();
        key(&mut a, '?');
        let s = screen(&a, 120, 40);
        for (_, keys) in HELP {
            for (k, what) in *keys {
                assert!(
                    s.contains(k) && s.contains(what),
                    "{k} {what} missing from\n{s}"
                );
            }
        }
    }

    /// On a terminal too small for the help, it is one column that scrolls, and every
    /// key is on some page.
    #[test]
    fn the_help_scrolls_on_a_small_terminal() {
        let mut a = app();
        key(&mut a, '?');
        let first = screen(&a, 60, 16);
        assert!(first.contains("scroll, any other key closes"), "{first}");
        assert!(
            first.contains("Everywhere") && !first.contains("Popups"),
            "{first}"
        );
        let mut seen = first.clone();
        for _ in 0..help_lines() {
            key(&mut a, 'j');
            seen.push_str(&screen(&a, 60, 16));
        }
        assert!(seen.contains("Popups"), "{seen}");
        for (_, keys) in HELP {
            for (k, what) in *keys {
                assert!(seen.contains(what), "{k} {what} on no page");
            }
        }
        assert_eq!(a.overlay, Overlay::Help(help_lines() - 1));
    }

    #[test]
    fn an_unreachable_server_is_said() {
        let mut a = App::new("http://127.0.0.1:9", "admin");
        a.start();
        a.update(Msg::Reply(Reply::Services(Err(
            client::Error::Unreachable {
                url: "http://127.0.0.1:9/services".into(),
                reason: "Connection refused (os error 111)".into(),
            },
        ))));
        let s = screen(&a, 100, 20);
        assert!(s.contains("✗ unreachable http://127.0.0.1:9"), "{s}");
        assert!(s.contains("Cannot list the services: cannot reach"), "{s}");
    }

    #[test]
    fn wide_names_get_their_cells() {
        let mut a = app();
        a.update(Msg::Reply(Reply::Services(Ok(vec![Service {
            url: "http://localhost:5000/wps".into(),
            name: "気象観測所".into(),
            kind: "wps".into(),
            purl: String::new(),
            auth: "token".into(),
            public: false,
            verify: true,
        }]))));
        let s = screen(&a, 100, 20);
        // `screen` writes the cell a wide character covers as a space.
        let row = s.lines().find(|l| l.contains('▶')).unwrap();
        assert!(row.contains("気 象 観 測 所  wps"), "{s}");
    }

    #[test]
    fn a_refused_password_is_said() {
        let mut a = App::new("http://127.0.0.1:9", "admin");
        a.start();
        a.update(Msg::Reply(Reply::Services(Err(client::Error::Refused {
            status: 401,
            message: "Unauthorized".into(),
        }))));
        let s = screen(&a, 140, 20);
        assert!(s.contains("✗ admin refused by http://127.0.0.1:9"), "{s}");
        assert!(s.contains("refuses the password of admin"), "{s}");
    }

    #[test]
    fn too_small_says_so_at_any_size() {
        let a = app();
        let s = screen(&a, 59, 20);
        assert!(
            s.contains("Terminal too small") && s.contains("59x20"),
            "{s}"
        );
        assert!(!s.contains("Services"));
        assert!(screen(&a, 100, 14).contains("Terminal too small"));
        // Down to nothing, nothing panics; and the smallest full size draws the UI.
        for (w, h) in [(1, 1), (10, 3), (0, 0), (60, 15)] {
            if w > 0 && h > 0 {
                screen(&a, w, h);
            }
        }
        assert!(screen(&a, MIN_WIDTH, MIN_HEIGHT).contains("1 Services"));
    }

    #[test]
    fn every_screen_draws_at_the_minimum_size() {
        let mut a = app();
        a.update(Msg::Reply(Reply::Server(Ok(Box::new(server_info())))));
        for c in ['1', '2', '3', '4', '5', '?'] {
            key(&mut a, c);
            let s = screen(&a, MIN_WIDTH, MIN_HEIGHT);
            assert!(!s.contains("too small"), "{c}: {s}");
            key(&mut a, 'x');
        }
        key(&mut a, '1');
        key(&mut a, 'a');
        screen(&a, MIN_WIDTH, MIN_HEIGHT);
    }
}
