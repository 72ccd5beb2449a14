//! The Traffic tab's numbers: rates and percentiles over the interval between two
//! `GET /stats` snapshots, from the counters and latency buckets the server keeps
//! since start, and a short history of them for the sparklines.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::client::Stats;

/// Intervals kept: five minutes at one poll a second.
pub const HISTORY: usize = 300;
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// What happened between the last two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub seconds: f64,
    pub requests: u64,
    pub rate: f64,
    /// Requests by status class, 1xx .. 5xx.
    pub classes: [u64; 5],
    /// None when no request finished in the interval.
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    /// Requests per OWS service in the interval, by name.
    pub services: HashMap<String, u64>,
}

#[derive(Debug, Default)]
pub struct Traffic {
    pub latest: Option<Stats>,
    prev: Option<(Duration, Stats)>,
    pub window: Option<Window>,
    /// Requests per second, one value per interval, oldest first.
    pub rate: VecDeque<f64>,
    /// p50 and p99 in milliseconds per interval; 0 where there were no requests.
    pub p50: VecDeque<f64>,
    pub p99: VecDeque<f64>,
    /// Why the last poll failed, until one succeeds.
    pub error: Option<String>,
}

/// The latency below which `q` of the counted requests fell: the upper bound of the
/// bucket where the count reaches `q`.
pub fn quantile(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return None;
    }
    let want = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (bound, c) in buckets {
        seen += c;
        if seen >= want {
            return Some(*bound);
        }
    }
    buckets.last().map(|(b, _)| *b)
}

/// `new - old` per bucket, buckets matched by their bound (the server computes both
/// the same way).
fn bucket_delta(new: &[(f64, u64)], old: &[(f64, u64)]) -> Vec<(f64, u64)> {
    let before: HashMap<u64, u64> = old.iter().map(|(b, c)| (b.to_bits(), *c)).collect();
    let mut out: Vec<(f64, u64)> = new
        .iter()
        .map(|(b, c)| {
            (
                *b,
                c.saturating_sub(before.get(&b.to_bits()).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, c)| *c > 0)
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

fn class(s: &Stats, i: usize) -> u64 {
    s.status.get(CLASSES[i]).copied().unwrap_or(0)
}

fn push(q: &mut VecDeque<f64>, v: f64) {
    if q.len() == HISTORY {
        q.pop_front();
    }
    q.push_back(v);
}

impl Traffic {
    /// Takes a snapshot received `at` (time since the TUI started).
    pub fn record(&mut self, at: Duration, stats: Stats) {
        self.error = None;
        if let Some((t0, old)) = &self.prev {
            let restarted =
                stats.requests < old.requests || stats.uptime_seconds < old.uptime_seconds;
            let seconds = at.saturating_sub(*t0).as_secs_f64();
            if restarted {
                self.rate.clear();
                self.p50.clear();
                self.p99.clear();
                self.window = None;
            } else if seconds > 0.0 {
                let buckets = bucket_delta(&stats.latency_buckets, &old.latency_buckets);
                let requests = stats.requests - old.requests;
                let before: HashMap<&str, u64> = old
                    .services
                    .iter()
                    .map(|s| (s.name.as_str(), s.requests))
                    .collect();
                let w = Window {
                    seconds,
                    requests,
                    rate: requests as f64 / seconds,
                    classes: std::array::from_fn(|i| {
                        class(&stats, i).saturating_sub(class(old, i))
                    }),
                    p50: quantile(&buckets, 0.50),
                    p99: quantile(&buckets, 0.99),
                    services: stats
                        .services
                        .iter()
                        .map(|s| {
                            let was = before.get(s.name.as_str()).copied().unwrap_or(0);
                            (s.name.clone(), s.requests.saturating_sub(was))
                        })
                        .collect(),
                };
                push(&mut self.rate, w.rate);
                push(&mut self.p50, w.p50.unwrap_or(0.0));
                push(&mut self.p99, w.p99.unwrap_or(0.0));
                self.window = Some(w);
            }
        }
        self.prev = Some((at, stats.clone()));
        self.latest = Some(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Percentiles, ServiceCounts};

    fn stats(requests: u64, ok: u64, buckets: &[(f64, u64)], emu: u64) -> Stats {
        Stats {
            uptime_seconds: requests,
            requests,
            status: [("2xx".to_string(), ok), ("4xx".to_string(), requests - ok)]
                .into_iter()
                .collect(),
            latency_ms: Percentiles::default(),
            latency_buckets: buckets.to_vec(),
            services: vec![ServiceCounts {
                name: "emu".into(),
                requests: emu,
                refused: 0,
            }],
            ..Stats::default()
        }
    }

    #[test]
    fn quantiles_of_bucket_counts() {
        assert_eq!(quantile(&[], 0.5), None);
        let b = [(1.0, 50), (2.0, 49), (100.0, 1)];
        assert_eq!(quantile(&b, 0.5), Some(1.0));
        assert_eq!(quantile(&b, 0.99), Some(2.0));
        assert_eq!(quantile(&b, 1.0), Some(100.0));
    }

    #[test]
    fn windows_come_from_the_difference_of_two_snapshots() {
        let mut t = Traffic::default();
        t.record(Duration::from_secs(1), stats(100, 90, &[(1.0, 100)], 10));
        assert!(t.window.is_none() && t.rate.is_empty());
        // 20 more requests in 2 s: 10 slow ones, 5 of them refused.
        t.record(
            Duration::from_secs(3),
            stats(120, 105, &[(1.0, 110), (50.0, 10)], 25),
        );
        let w = t.window.clone().unwrap();
        assert_eq!(w.requests, 20);
        assert!((w.rate - 10.0).abs() < 1e-9);
        assert_eq!(w.classes, [0, 15, 0, 5, 0]);
        assert_eq!((w.p50, w.p99), (Some(1.0), Some(50.0)));
        assert_eq!(w.services["emu"], 15);
        // Nothing new: no percentiles, rate 0.
        t.record(
            Duration::from_secs(4),
            stats(120, 105, &[(1.0, 110), (50.0, 10)], 25),
        );
        assert_eq!(t.window.as_ref().unwrap().p99, None);
        assert_eq!(t.rate, [10.0, 0.0]);
        assert_eq!(t.p99, [50.0, 0.0]);
    }

    #[test]
    fn a_restarted_server_starts_the_history_anew() {
        let mut t = Traffic::default();
        t.record(Duration::from_secs(1), stats(100, 100, &[], 0));
        t.record(Duration::from_secs(2), stats(110, 110, &[], 0));
        assert_eq!(t.rate.len(), 1);
        t.record(Duration::from_secs(3), stats(3, 3, &[], 0));
        assert!(t.rate.is_empty() && t.window.is_none());
        assert_eq!(t.latest.as_ref().unwrap().requests, 3);
    }

    #[test]
    fn history_is_bounded() {
        let mut t = Traffic::default();
        for i in 0..(HISTORY as u64 + 20) {
            t.record(Duration::from_secs(i + 1), stats(i * 2, i * 2, &[], 0));
        }
        assert_eq!(t.rate.len(), HISTORY);
    }
}
