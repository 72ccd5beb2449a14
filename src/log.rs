//! Lines on stderr: `TIMESTAMP LEVEL message`. One `write` per line keeps lines whole
//! when threads log at once; the server hands its lines to one writer thread instead.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 3339 UTC time with milliseconds, e.g. `2026-11-28T13:21:42.123Z`, appended
/// without the formatter: every log line has one.
fn push_timestamp(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, day) = civil_from_days(days);
    push_padded(out, u64::try_from(y).unwrap_or(0), 4);
    out.push('-');
    push_padded(out, m.into(), 2);
    out.push('-');
    push_padded(out, day.into(), 2);
    out.push('T');
    push_padded(out, rem / 3600, 2);
    out.push(':');
    push_padded(out, rem % 3600 / 60, 2);
    out.push(':');
    push_padded(out, rem % 60, 2);
    out.push('.');
    push_padded(out, d.subsec_millis().into(), 3);
    out.push('Z');
}

/// Appends `n` in decimal, zero-padded to `width` digits; as `{n:0width$}` does, at a
/// fraction of the formatter's cost.
pub fn push_padded(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(digits.len().saturating_sub(width));
    for &b in &digits[start..] {
        out.push(b as char);
    }
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn line(level: &str, msg: &str) {
    line_with(level, msg.len(), |text| text.push_str(msg));
}

/// A line whose message `write` appends in place, after the timestamp and level:
/// `capacity` is what the message is expected to take.
pub fn line_with(level: &str, capacity: usize, write: impl FnOnce(&mut String)) {
    let mut text = String::with_capacity(24 + level.len() + capacity + 3);
    push_timestamp(&mut text, SystemTime::now());
    text.push(' ');
    text.push_str(level);
    text.push(' ');
    write(&mut text);
    text.push('\n');
    write_line(text.as_bytes(), level != ACCESS);
}

/// The level of the per-request lines, which may wait to be written with others.
pub const ACCESS: &str = "ACCESS";

fn write_line(bytes: &[u8], urgent: bool) {
    match WRITER.get() {
        Some(q) => q.push(bytes, urgent),
        None => write_direct(bytes),
    }
}

/// A line of up to `PIPE_BUF` bytes goes out in one `write(2)`, which the kernel keeps
/// whole on a pipe or a file, without stderr's lock. Longer lines take the lock, so
/// they cannot be split by one another.
fn write_direct(bytes: &[u8]) {
    let stderr = std::io::stderr();
    if bytes.len() <= libc::PIPE_BUF {
        // SAFETY: writes from a live slice to the process's own stderr descriptor.
        let n = unsafe { libc::write(stderr.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        if usize::try_from(n).is_ok_and(|n| n == bytes.len()) {
            return;
        }
        // Interrupted or partial: the rest, or all of it, through the lock.
        let done = usize::try_from(n).unwrap_or(0);
        let _ = stderr.lock().write_all(&bytes[done..]);
        return;
    }
    let _ = stderr.lock().write_all(bytes);
}

/// What the writer thread has yet to write. With a thread per connection, every
/// request writing its own access line made them queue on the log file's inode lock;
/// when the thread holding it was preempted, all the others stalled behind it together
/// (tens of milliseconds on 2 CPUs). A request now only appends under this lock.
///
/// Access lines are written in batches, as nginx's `access_log ... buffer= flush=`
/// does: waking the writer for each one cost the request a futex call and the
/// process a context switch and a `write(2)`. They wait at most `ACCESS_DELAY`, or
/// until `ACCESS_BATCH` bytes are pending; any other line, and `flush`, writes at once.
struct Queue {
    pending: Mutex<Pending>,
    /// The writer waits here for lines.
    arrived: Condvar,
    /// `flush` and writers held back by a full queue wait here for a write to end.
    written: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    writing: bool,
    /// Set while the writer waits, so a line wakes it only then: a notify is a system call.
    writer_idle: bool,
    /// Set while the writer lets access lines gather; only a reason to write now wakes it.
    writer_gathering: bool,
    /// A line that should not wait, or a `flush`, came.
    urgent: bool,
    waiting_for_write: usize,
}

const ACCESS_BATCH: usize = 32 * 1024;
const ACCESS_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// Beyond this, threads wait for the writer rather than buffer more (a blocked stderr
/// holds requests back, as direct writes did, instead of growing memory).
const QUEUE_MAX: usize = 1 << 20;

static WRITER: OnceLock<Queue> = OnceLock::new();

/// From now on lines go to a writer thread. For the server, whose every request logs.
pub fn start_writer() {
    if WRITER.get().is_some() {
        return;
    }
    let queue = WRITER.get_or_init(Queue::new);
    let spawned = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || queue.run(&mut std::io::stderr()));
    if spawned.is_err() {
        write_direct(b"twitcher: cannot start the log writer thread\n");
    }
}

/// Waits until every line logged so far is written, for at most `limit`: a stderr
/// nobody reads must not keep the process from ending.
pub fn flush(limit: std::time::Duration) {
    if let Some(q) = WRITER.get() {
        q.flush(limit);
    }
}

impl Queue {
    fn new() -> Queue {
        Queue {
            pending: Mutex::new(Pending::default()),
            arrived: Condvar::new(),
            written: Condvar::new(),
        }
    }

    fn flush(&self, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        let mut p = self.lock();
        p.waiting_for_write += 1;
        self.hurry(&mut p);
        while !p.bytes.is_empty() || p.writing {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            p = match self.written.wait_timeout(p, left) {
                Ok((p, _)) => p,
                Err(e) => e.into_inner().0,
            };
        }
        p.waiting_for_write -= 1;
    }

    /// What is pending goes out without waiting for more access lines.
    fn hurry(&self, p: &mut Pending) {
        p.urgent = true;
        if p.writer_gathering {
            self.arrived.notify_one();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, line: &[u8], urgent: bool) {
        let mut p = self.lock();
        if p.bytes.len() + line.len() > QUEUE_MAX {
            p.waiting_for_write += 1;
            self.hurry(&mut p);
            while !p.bytes.is_empty() {
                p = self.written.wait(p).unwrap_or_else(|e| e.into_inner());
            }
            p.waiting_for_write -= 1;
        }
        p.bytes.extend_from_slice(line);
        p.urgent |= urgent;
        let wake = if p.writer_gathering {
            let now = p.urgent || p.bytes.len() >= ACCESS_BATCH;
            p.writer_gathering &= !now;
            now
        } else {
            std::mem::take(&mut p.writer_idle)
        };
        drop(p);
        if wake {
            self.arrived.notify_one();
        }
    }

    /// Writes what has come to `sink`, a batch at a time, until the process ends.
    fn run(&self, sink: &mut dyn Write) {
        let mut out = Vec::new();
        loop {
            let mut p = self.lock();
            p.writing = false;
            if p.waiting_for_write > 0 {
                self.written.notify_all();
            }
            while p.bytes.is_empty() {
                p.writer_idle = true;
                p = self.arrived.wait(p).unwrap_or_else(|e| e.into_inner());
            }
            p.writer_idle = false;
            let deadline = std::time::Instant::now() + ACCESS_DELAY;
            while !p.urgent && p.bytes.len() < ACCESS_BATCH {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                p.writer_gathering = true;
                p = match self.arrived.wait_timeout(p, left) {
                    Ok((p, _)) => p,
                    Err(e) => e.into_inner().0,
                };
            }
            p.writer_gathering = false;
            p.urgent = false;
            p.writing = true;
            std::mem::swap(&mut p.bytes, &mut out);
            drop(p);
            let _ = sink.write_all(&out).and_then(|()| sink.flush());
            out.clear();
        }
    }
}

/// Appends an address as `Display` does; IPv4, the common case, without the
/// formatter's padding machinery, which costs more than the rest of a log line.
pub fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                let (h, t, u) = (o / 100, o / 10 % 10, o % 10);
                if h > 0 {
                    out.push((b'0' + h) as char);
                }
                if h > 0 || t > 0 {
                    out.push((b'0' + t) as char);
                }
                out.push((b'0' + u) as char);
            }
        }
        v6 => out.push_str(&v6.to_string()),
    }
}

/// Text from elsewhere as a terminal or a log line is to get it: every control
/// character (C0, DEL, C1) written as `\u{..}`, so a name or a message cannot move the
/// cursor, retitle the window or write to the clipboard, nor break a line or a row.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

pub fn info(msg: &str) {
    line("INFO", msg);
}

pub fn warn(msg: &str) {
    line("WARN", msg);
}

pub fn error(msg: &str) {
    line("ERROR", msg);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Collects what the writer writes, slowly, and counts the writes.
    #[derive(Clone, Default)]
    struct SlowSink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for SlowSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_millis(1));
            let mut s = self.0.lock().unwrap();
            s.0.extend_from_slice(buf);
            s.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A queue with its writer thread running, and what it writes to.
    fn started_queue() -> (&'static Queue, SlowSink) {
        let queue: &'static Queue = Box::leak(Box::new(Queue::new()));
        let sink = SlowSink::default();
        let mut writer_sink = sink.clone();
        std::thread::spawn(move || queue.run(&mut writer_sink));
        (queue, sink)
    }

    #[test]
    fn an_access_line_alone_is_written_without_a_flush() {
        let (queue, sink) = started_queue();
        for line in ["first\n", "second\n"] {
            queue.push(line.as_bytes(), false);
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !String::from_utf8_lossy(&sink.0.lock().unwrap().0).contains(line) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{line:?} never written"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    #[test]
    fn the_writer_thread_keeps_every_line_whole_and_in_order() {
        let (queue, sink) = started_queue();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                std::thread::spawn(move || {
                    for n in 0..500 {
                        queue.push(format!("thread {t} line {n}\n").as_bytes(), n % 7 == 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        queue.flush(Duration::from_secs(10));
        let (text, writes) = sink.0.lock().unwrap().clone();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(text.lines().count(), 4000);
        for t in 0..8 {
            let prefix = format!("thread {t} line ");
            let ns: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&prefix))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(ns, (0..500).collect::<Vec<_>>(), "thread {t}");
        }
        // Lines that came while a write was under way went out together.
        assert!(writes < 4000, "{writes} writes");
    }

    #[test]
    fn ip_addresses_as_display_writes_them() {
        for ip in [
            "127.0.0.1",
            "10.0.200.9",
            "255.255.255.255",
            "0.0.0.0",
            "::1",
            "fe80::1",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
    }

    fn timestamp(t: SystemTime) -> String {
        let mut s = String::new();
        push_timestamp(&mut s, t);
        s
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_871_406_229);
        assert_eq!(timestamp(t), "2026-11-28T13:10:06.229Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn padded_numbers_as_the_formatter_writes_them() {
        for (n, width) in [
            (0, 1),
            (0, 3),
            (7, 2),
            (42, 2),
            (123, 2),
            (u64::MAX, 4),
            (9, 0),
        ] {
            let mut s = String::new();
            push_padded(&mut s, n, width);
            assert_eq!(s, format!("{n:0width$}"));
        }
    }
}
