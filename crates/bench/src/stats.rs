//! Summaries of repeated measurements, and the critical path of one invocation.

use std::time::{Duration, Instant};

/// Median and spread of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub count: usize,
}

impl Summary {
    /// `None` for no samples. Percentiles by nearest rank, so every number printed is one that
    /// was measured.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |quantile: f64| {
            let index = (quantile * sorted.len() as f64).ceil() as usize;
            sorted[index.clamp(1, sorted.len()) - 1]
        };
        let middle = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        } else {
            sorted[middle]
        };
        Some(Summary {
            median,
            p10: rank(0.1),
            p90: rank(0.9),
            count: sorted.len(),
        })
    }
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The most calls of an invocation that ran one after another: the longest chain of intervals
/// `[sent, answered]` in which each starts after the previous one was answered. Calls that
/// overlap (a count running beside the create) share a step, so at a fixed latency per call this
/// is the number of round trips the invocation waited for.
pub fn sequential_round_trips(calls: &[(Instant, Instant)]) -> usize {
    let mut calls = calls.to_vec();
    calls.sort_by_key(|&(start, end)| (end, start));
    // chain[i]: the longest chain that ends with call i (calls sorted by end).
    let mut chain: Vec<usize> = Vec::with_capacity(calls.len());
    for (i, &(start, _)) in calls.iter().enumerate() {
        let before = calls[..i]
            .iter()
            .zip(&chain)
            .filter(|((_, end), _)| *end <= start)
            .map(|(_, length)| *length)
            .max()
            .unwrap_or(0);
        chain.push(before + 1);
    }
    chain.into_iter().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_by_nearest_rank() {
        let samples: Vec<f64> = (1..=10).map(f64::from).collect();
        let summary = Summary::of(&samples).unwrap();
        assert_eq!(summary.median, 5.5);
        assert_eq!(summary.p10, 1.0);
        assert_eq!(summary.p90, 9.0);
        assert_eq!(Summary::of(&[3.0]).unwrap().median, 3.0);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn overlapping_calls_share_a_round_trip() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // create ∥ count, then apply, then verify, then the PUT: 4 round trips.
        let calls = [
            (at(0), at(50)),
            (at(1), at(51)),
            (at(52), at(102)),
            (at(103), at(153)),
            (at(154), at(204)),
        ];
        assert_eq!(sequential_round_trips(&calls), 4);
        assert_eq!(sequential_round_trips(&calls[..2]), 1);
        assert_eq!(sequential_round_trips(&[]), 0);
    }
}
