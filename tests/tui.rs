//! `twitcher tui` in a real terminal: tmux runs it against a real server, keystrokes
//! register a service, check it through the proxy and delete a client, and the API then
//! shows what changed. tmux must be installed: these tests fail, not skip, without it.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::backend::Backend;
use common::*;
use serde_json::Value;

/// A tmux server of its own, with one 120x40 pane running a command; killed on drop.
/// Its socket lives in a temporary folder, so nothing is left behind.
struct Tmux {
    socket: PathBuf,
    _dir: TempDir,
}

impl Tmux {
    fn start(command: &[&str]) -> Tmux {
        let dir = TempDir::new("tmux");
        let conf = dir.path("tmux.conf");
        // No status line, so the pane is the whole 120x40; a dead pane stays readable.
        std::fs::write(&conf, "set -g status off\nset -g remain-on-exit on\n").unwrap();
        let t = Tmux {
            socket: dir.path("tmux.sock"),
            _dir: dir,
        };
        let mut args = vec![
            "-f",
            conf.to_str().unwrap(),
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            "120",
            "-y",
            "40",
            "--",
        ];
        args.extend_from_slice(command);
        let out = t.tmux(&args);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap_or_else(|e| {
                panic!("tmux is needed for the TUI's end-to-end tests (apt-get install tmux): {e}")
            })
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "tui"]).stdout)
            .into_owned()
    }

    /// The screen with the lines scrolled off it: tmux's "Pane is dead" line, written
    /// at the bottom, can push the first line of a full screen into the history.
    fn everything(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-t", "tui", "-S", "-"])
                .stdout,
        )
        .into_owned()
    }

    /// Polls `read` until it shows `text`; panics with what it last read after `secs`.
    fn until(&self, text: &str, secs: u64, read: fn(&Tmux) -> String) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = read(self);
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, text: &str, secs: u64) -> String {
        self.until(text, secs, Tmux::screen)
    }

    /// As [`Tmux::wait_for`], with the lines scrolled off the screen too.
    fn wait_for_all(&self, text: &str, secs: u64) -> String {
        self.until(text, secs, Tmux::everything)
    }

    /// Named keys, as tmux spells them: `Enter`, `Tab`, `C-c`, or a single character.
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    fn type_text(&self, text: &str) {
        assert!(
            self.tmux(&["send-keys", "-t", "tui", "-l", text])
                .status
                .success()
        );
    }

    /// The exit status of the TUI, which [`tui_script`] prints after it.
    fn wait_exit(&self, secs: u64) -> i32 {
        let all = self.wait_for_all("tui-exit=", secs);
        all.lines()
            .find_map(|l| l.trim().strip_prefix("tui-exit="))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no exit status in\n{all}"))
    }
}

/// A shell line that runs `twitcher tui ARGS`, then prints its exit status and `after`.
/// The status comes on the screen because tmux 3.3 does not always record it.
fn tui_script(args: &[&str], after: &str) -> String {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "'{BIN}' tui {}; echo tui-exit=$?; {after}",
        quoted.join(" ")
    )
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn add_client(s: &Server, name: &str) -> String {
    let r = get(
        &format!("{}/oauth/client?name={name}", s.url),
        Some(&admin_auth()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["client_id"].as_str().unwrap().to_string()
}

fn client_ids(s: &Server) -> Vec<String> {
    let r = get(&format!("{}/oauth/clients", s.url), Some(&admin_auth()));
    assert_eq!(r.status, 200);
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn keystrokes_register_a_service_check_it_and_delete_a_client() {
    let s = Server::start();
    let backend = Backend::start();
    let keep = add_client(&s, "keep_app");
    let doomed = add_client(&s, "doomed_app");
    let script = tui_script(&["-s", &s.url, "-u", ADMIN.0, "-p", ADMIN.1], "true");
    let tui = Tmux::start(&["sh", "-c", &script]);
    tui.wait_for("No services registered", 20);
    tui.wait_for(&format!("connected to {}", s.url), 10);

    // Register: a form, a name that gets sanitised, the backend's URL, Enter.
    tui.keys(&["a"]);
    tui.wait_for("Register a service", 5);
    tui.type_text("TUI wps");
    tui.wait_for("stored as tui_wps", 5);
    tui.keys(&["Tab"]);
    tui.type_text("ftp://nope");
    tui.wait_for("must be an http:// or https:// URL", 5);
    tui.keys(&["C-u"]);
    tui.type_text(&backend.url);
    tui.keys(&["Enter"]);
    tui.wait_for("registered service tui_wps", 10);
    let r = get(&format!("{}/services/tui_wps", s.url), Some(&admin_auth()));
    assert_eq!(r.status, 200, "{}", r.text());
    let svc: Value = r.json();
    assert_eq!(svc["url"], backend.url.as_str());
    assert_eq!(
        (svc["type"].as_str(), svc["auth"].as_str()),
        (Some("wps"), Some("token"))
    );

    // Check: GetCapabilities through the proxy reaches the backend.
    tui.keys(&["c"]);
    tui.wait_for("operations: GetCapabilities Execute", 10);
    let seen = backend.last();
    assert_eq!(seen.path, "/wps");
    assert!(
        seen.query.contains("request=GetCapabilities"),
        "{}",
        seen.query
    );

    // Delete a client: filter to it, d, and the confirmation.
    tui.keys(&["2"]);
    tui.wait_for("doomed_app", 10);
    tui.keys(&["/"]);
    tui.type_text("doomed");
    tui.keys(&["Enter"]);
    tui.wait_for("1 of 2", 5);
    tui.keys(&["d"]);
    tui.wait_for("Delete client doomed_app", 5);
    assert!(
        client_ids(&s).contains(&doomed),
        "nothing is deleted before y"
    );
    tui.keys(&["y"]);
    tui.wait_for(&format!("deleted client {doomed}"), 10);
    let ids = client_ids(&s);
    assert!(!ids.contains(&doomed), "{ids:?}");
    assert!(ids.contains(&keep), "{ids:?}");

    tui.keys(&["q"]);
    assert_eq!(tui.wait_exit(10), 0);
    let after = tui.everything();
    assert!(
        !after.contains("1 Services"),
        "the alternate screen is left on exit:\n{after}"
    );
}

#[test]
fn a_refused_password_can_be_given_again_without_a_restart() {
    let s = Server::start();
    add_client(&s, "seen_app");
    let script = tui_script(
        &["-s", &s.url, "-u", ADMIN.0, "-p", "bad-pass-4711"],
        "true",
    );
    let tui = Tmux::start(&["sh", "-c", &script]);
    let screen = tui.wait_for("Sign in again", 20);
    assert!(
        screen.contains(&format!("admin refused by {}", s.url)),
        "{screen}"
    );
    assert!(
        !screen.contains("bad-pass-4711"),
        "the password shows:\n{screen}"
    );
    tui.type_text(ADMIN.1);
    let screen = tui.wait_for("••••", 5);
    assert!(!screen.contains(ADMIN.1), "the password shows:\n{screen}");
    tui.keys(&["Enter"]);
    tui.wait_for(&format!("connected to {}", s.url), 10);
    tui.wait_for(&format!("admin@{}", s.url), 5);
    tui.keys(&["2"]);
    tui.wait_for("seen_app", 10);
    tui.keys(&["q"]);
    assert_eq!(tui.wait_exit(10), 0);
}

#[test]
fn without_a_server_it_starts_says_so_and_ctrl_c_restores_the_terminal() {
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    // stty runs on the same terminal after the TUI: it shows the modes it left.
    let script = tui_script(&["-s", &url, "-u", "admin", "-p", "x"], "stty -a");
    let tui = Tmux::start(&["sh", "-c", &script]);
    let screen = tui.wait_for("cannot reach", 20);
    assert!(screen.contains(&format!("unreachable {url}")), "{screen}");
    tui.keys(&["2"]);
    tui.wait_for("Cannot list the clients", 10);
    tui.keys(&["C-c"]);
    assert_eq!(tui.wait_exit(10), 0);
    let after = tui.wait_for_all("isig", 10);
    for mode in [" icanon", " echo "] {
        assert!(after.contains(mode), "{mode:?} is not back on:\n{after}");
    }
    assert!(!after.contains("1 Services"), "{after}");
}

/// The pids of twitcher processes whose command line holds `needle` (not tmux's, whose
/// arguments hold it too).
fn pids_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline"))
            && cmd.starts_with(BIN.as_bytes())
            && String::from_utf8_lossy(&cmd).contains(needle)
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_terminal_that_goes_away_ends_the_tui() {
    let s = Server::start();
    // A marker in the arguments, so this test finds its own TUI among the processes.
    let marker = format!("{}/?hangup-{}", s.url, std::process::id());
    /// Kills what is left, so a failing run leaves no TUI spinning.
    struct Reap<'a>(&'a str);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            for pid in pids_with(self.0) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
    }
    let _reap = Reap(&marker);
    let tui = Tmux::start(&[BIN, "tui", "-s", &marker, "-u", ADMIN.0, "-p", ADMIN.1]);
    tui.wait_for("1 Services", 20);
    assert_eq!(pids_with(&marker).len(), 1);
    // The pane's terminal closes, as when an SSH session drops: the TUI must exit, not
    // read the end of its input in a loop.
    drop(tui);
    wait_for(10, "the TUI to exit after its terminal closed", || {
        pids_with(&marker).is_empty().then_some(())
    });
}

/// The modes of the pane's terminal, as `stty -a` on it shows them from outside.
fn pane_modes(tui: &Tmux) -> String {
    let tty = String::from_utf8_lossy(
        &tui.tmux(&["display-message", "-p", "-t", "tui", "#{pane_tty}"])
            .stdout,
    )
    .trim()
    .to_string();
    let out = Command::new("stty")
        .args(["-a", "-F", &tty])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SIGTSTP hands the terminal back in cooked mode and SIGCONT takes it again with a
/// full redraw; SIGINT ends the TUI like SIGTERM, terminal restored, with 128 + 2.
#[test]
fn stop_continue_and_interrupt_leave_the_terminal_usable() {
    let s = Server::start();
    let marker = format!("{}/?signals-{}", s.url, std::process::id());
    let script = tui_script(&["-s", &marker, "-u", ADMIN.0, "-p", ADMIN.1], "stty -a");
    let tui = Tmux::start(&["sh", "-c", &script]);
    tui.wait_for("1 Services", 20);
    let pid = wait_for(10, "the TUI's pid", || pids_with(&marker).first().copied());
    let signal = |name: &str| {
        assert!(
            Command::new("kill")
                .args([name, &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    };

    signal("-TSTP");
    wait_for(10, "the main screen and cooked mode while stopped", || {
        let modes = pane_modes(&tui);
        (!tui.screen().contains("1 Services")
            && modes.contains(" icanon")
            && modes.contains(" echo "))
        .then_some(())
    });
    signal("-CONT");
    tui.wait_for("1 Services", 10);
    let modes = pane_modes(&tui);
    assert!(
        modes.contains("-icanon"),
        "raw again after SIGCONT: {modes}"
    );

    signal("-INT");
    assert_eq!(tui.wait_exit(10), 130);
    let after = tui.wait_for_all("isig", 10);
    for mode in [" icanon", " echo "] {
        assert!(after.contains(mode), "{mode:?} is not back on:\n{after}");
    }
    assert!(
        !tui.screen().contains("1 Services"),
        "the alternate screen is left"
    );
}
