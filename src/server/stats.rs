//! Traffic counters since start, for `GET /stats` (the TUI's traffic tab) and
//! `GET /metrics` (Prometheus). Recording a request touches only atomics: no lock and
//! no allocation on the hot path, whatever the number of workers.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Latency buckets: four per power of two of microseconds, from 1 µs to about 2^28 µs
/// (4.5 minutes); each bound is within 19 % of the true value.
const SUB: u32 = 4;
const BUCKETS: usize = 28 * SUB as usize + 1;
/// Services counted one by one; more distinct names share the last counter.
const SERVICE_SLOTS: usize = 256;

struct ServiceSlot {
    name: OnceLock<String>,
    requests: AtomicU64,
    refused: AtomicU64,
}

pub struct Stats {
    started: Instant,
    started_at: u64,
    requests: AtomicU64,
    in_flight: AtomicI64,
    bytes_sent: AtomicU64,
    /// 1xx .. 5xx.
    by_class: [AtomicU64; 5],
    latency: [AtomicU64; BUCKETS],
    services: Vec<ServiceSlot>,
    other_services: AtomicU64,
}

/// The bucket of a duration in microseconds.
fn bucket(us: u64) -> usize {
    if us <= 1 {
        return 0;
    }
    let exp = 63 - us.leading_zeros();
    // The next two bits below the leading one choose the quarter.
    let frac = if exp >= 2 {
        ((us >> (exp - 2)) & 0b11) as u32
    } else {
        ((us << (2 - exp)) & 0b11) as u32
    };
    ((exp * SUB + frac + 1) as usize).min(BUCKETS - 1)
}

/// The upper bound of a bucket, in microseconds.
fn bucket_bound(i: usize) -> f64 {
    if i == 0 {
        return 1.0;
    }
    let i = i as u32 - 1;
    let (exp, frac) = (i / SUB, i % SUB);
    2f64.powi(exp as i32) * (1.0 + f64::from(frac + 1) / f64::from(SUB))
}

fn fnv(s: &str) -> usize {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    }) as usize
}

/// One finished request.
pub struct Record<'a> {
    pub status: u16,
    pub duration: Duration,
    pub bytes: u64,
    /// The OWS service it was for, if any.
    pub service: Option<&'a str>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            started: Instant::now(),
            started_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            requests: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            bytes_sent: AtomicU64::new(0),
            by_class: Default::default(),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            services: (0..SERVICE_SLOTS)
                .map(|_| ServiceSlot {
                    name: OnceLock::new(),
                    requests: AtomicU64::new(0),
                    refused: AtomicU64::new(0),
                })
                .collect(),
            other_services: AtomicU64::new(0),
        }
    }
}

impl Stats {
    pub fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn end(&self, r: &Record) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(r.bytes, Ordering::Relaxed);
        let class = (usize::from(r.status / 100)).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let us = r.duration.as_micros().min(u128::from(u64::MAX)) as u64;
        self.latency[bucket(us)].fetch_add(1, Ordering::Relaxed);
        if let Some(name) = r.service {
            match self.slot(name) {
                Some(slot) => {
                    slot.requests.fetch_add(1, Ordering::Relaxed);
                    if matches!(r.status, 401 | 403) {
                        slot.refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => {
                    self.other_services.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The slot holding `name`, claiming a free one on first sight (open addressing).
    fn slot(&self, name: &str) -> Option<&ServiceSlot> {
        let start = fnv(name) % SERVICE_SLOTS;
        for i in 0..SERVICE_SLOTS {
            let slot = &self.services[(start + i) % SERVICE_SLOTS];
            match slot.name.get() {
                Some(n) if n == name => return Some(slot),
                Some(_) => continue,
                None => {
                    let _ = slot.name.set(name.to_string());
                    if slot.name.get().is_some_and(|n| n == name) {
                        return Some(slot);
                    }
                }
            }
        }
        None
    }

    fn latency_counts(&self) -> Vec<u64> {
        self.latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// The latency below which `q` of the requests fell, in milliseconds.
    fn quantile(counts: &[u64], q: f64) -> f64 {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let want = ((total as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return bucket_bound(i) / 1000.0;
            }
        }
        bucket_bound(counts.len() - 1) / 1000.0
    }

    /// `GET /stats`: counters since start; `latency_buckets` lets a poller compute
    /// percentiles over its own interval from two snapshots.
    pub fn snapshot(&self) -> Value {
        let counts = self.latency_counts();
        let classes: Vec<u64> = self
            .by_class
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let mut services: Vec<Value> = self
            .services
            .iter()
            .filter_map(|s| {
                s.name.get().map(|n| {
                    json!({
                        "name": n,
                        "requests": s.requests.load(Ordering::Relaxed),
                        "refused": s.refused.load(Ordering::Relaxed),
                    })
                })
            })
            .collect();
        services.sort_by_key(|s| std::cmp::Reverse(s["requests"].as_u64().unwrap_or(0)));
        let buckets: Vec<Value> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| json!([bucket_bound(i) / 1000.0, c]))
            .collect();
        json!({
            "started_at": self.started_at,
            "uptime_seconds": self.started.elapsed().as_secs(),
            "requests": self.requests.load(Ordering::Relaxed),
            "in_flight": self.in_flight.load(Ordering::Relaxed).max(0),
            "bytes_sent": self.bytes_sent.load(Ordering::Relaxed),
            "status": {
                "1xx": classes[0], "2xx": classes[1], "3xx": classes[2],
                "4xx": classes[3], "5xx": classes[4],
            },
            "latency_ms": {
                "p50": Self::quantile(&counts, 0.50),
                "p90": Self::quantile(&counts, 0.90),
                "p99": Self::quantile(&counts, 0.99),
            },
            "latency_buckets": buckets,
            "services": services,
            "other_services": self.other_services.load(Ordering::Relaxed),
        })
    }

    /// `GET /metrics` in the Prometheus text format, from the same counters.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut put = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        put("# HELP twitcher_requests_total Requests answered, by status class.".into());
        put("# TYPE twitcher_requests_total counter".into());
        for (i, c) in self.by_class.iter().enumerate() {
            put(format!(
                "twitcher_requests_total{{code=\"{}xx\"}} {}",
                i + 1,
                c.load(Ordering::Relaxed)
            ));
        }
        put("# HELP twitcher_requests_in_flight Requests being handled.".into());
        put("# TYPE twitcher_requests_in_flight gauge".into());
        put(format!(
            "twitcher_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed).max(0)
        ));
        put("# HELP twitcher_response_bytes_total Body bytes sent.".into());
        put("# TYPE twitcher_response_bytes_total counter".into());
        put(format!(
            "twitcher_response_bytes_total {}",
            self.bytes_sent.load(Ordering::Relaxed)
        ));
        put("# HELP twitcher_request_duration_seconds Time from request to the end of the response.".into());
        put("# TYPE twitcher_request_duration_seconds histogram".into());
        let counts = self.latency_counts();
        let mut cumulative = 0;
        for (i, c) in counts.iter().enumerate() {
            cumulative += c;
            // Every fourth bound keeps the series few: powers of two of microseconds.
            if i % SUB as usize == 0 || i == counts.len() - 1 {
                put(format!(
                    "twitcher_request_duration_seconds_bucket{{le=\"{}\"}} {cumulative}",
                    bucket_bound(i) / 1e6
                ));
            }
        }
        put(format!(
            "twitcher_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        ));
        put(format!(
            "twitcher_request_duration_seconds_count {cumulative}"
        ));
        put("# HELP twitcher_service_requests_total OWS requests by service, and those refused (401/403).".into());
        put("# TYPE twitcher_service_requests_total counter".into());
        for s in &self.services {
            if let Some(n) = s.name.get() {
                let n = n.replace(['\\', '"', '\n'], "_");
                put(format!(
                    "twitcher_service_requests_total{{service=\"{n}\",result=\"all\"}} {}",
                    s.requests.load(Ordering::Relaxed)
                ));
                put(format!(
                    "twitcher_service_requests_total{{service=\"{n}\",result=\"refused\"}} {}",
                    s.refused.load(Ordering::Relaxed)
                ));
            }
        }
        put(format!(
            "twitcher_uptime_seconds {}",
            self.started.elapsed().as_secs()
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values_closely() {
        for us in [
            1u64, 2, 3, 5, 7, 100, 999, 1000, 12_345, 1_000_000, 60_000_000,
        ] {
            let b = bucket(us);
            assert!(bucket_bound(b) >= us as f64, "{us} in {b}");
            assert!(
                bucket_bound(b) <= us as f64 * 1.26 + 1.0,
                "{us}: {}",
                bucket_bound(b)
            );
            if b > 0 {
                assert!(bucket_bound(b - 1) < us as f64, "{us}");
            }
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn counts_percentiles_and_services() {
        let s = Stats::default();
        for i in 0..100u64 {
            s.begin();
            s.end(&Record {
                status: if i < 90 { 200 } else { 401 },
                duration: Duration::from_micros(if i < 99 { 1000 } else { 100_000 }),
                bytes: 10,
                service: Some(if i % 2 == 0 { "emu" } else { "other" }),
            });
        }
        let v = s.snapshot();
        assert_eq!(v["requests"], 100);
        assert_eq!(v["in_flight"], 0);
        assert_eq!(v["status"]["2xx"], 90);
        assert_eq!(v["status"]["4xx"], 10);
        let p50 = v["latency_ms"]["p50"].as_f64().unwrap();
        let p99 = v["latency_ms"]["p99"].as_f64().unwrap();
        assert!((1.0..1.3).contains(&p50), "{p50}");
        assert!((1.0..1.3).contains(&p99), "{p99}");
        assert_eq!(v["services"].as_array().unwrap().len(), 2);
        assert_eq!(v["services"][0]["requests"], 50);
        assert_eq!(v["services"][0]["refused"], 5);
        let m = s.prometheus();
        assert!(
            m.contains("twitcher_requests_total{code=\"2xx\"} 90"),
            "{m}"
        );
        assert!(m.contains("twitcher_service_requests_total{service=\"emu\",result=\"all\"} 50"));
        assert!(m.contains("twitcher_request_duration_seconds_count 100"));
    }

    #[test]
    fn more_services_than_slots_share_one_counter() {
        let s = Stats::default();
        for i in 0..SERVICE_SLOTS + 10 {
            s.begin();
            s.end(&Record {
                status: 200,
                duration: Duration::ZERO,
                bytes: 0,
                service: Some(&format!("svc{i}")),
            });
        }
        assert_eq!(s.snapshot()["other_services"], 10);
    }
}
