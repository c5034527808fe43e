//! Arrival schedules: when each request is *intended* to be sent, independent of when responses
//! come back (open loop). Each worker draws its own share of the rate; W Poisson processes at
//! rate/W superpose to one Poisson process at the full rate, and W evenly phased constant
//! streams interleave into one even stream.

use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use rand_pcg::Pcg64Mcg;

/// Intended send offsets (ns from the level start) for one worker.
pub enum Arrivals {
    /// Evenly spaced: the n-th send at `first_ns + n × interval_ns` (computed, not accumulated,
    /// so rounding never drifts).
    Constant {
        first_ns: u64,
        interval_ns: f64,
        n: u64,
    },
    /// Exponential gaps (a Poisson process), seeded.
    Poisson {
        next_s: f64,
        gaps: Exp<f64>,
        rng: Pcg64Mcg,
    },
}

impl Arrivals {
    /// Constant rate: this worker's share of `rate_rps` split over `workers`.
    pub fn constant(rate_rps: f64, workers: usize, worker: usize) -> Arrivals {
        Arrivals::Constant {
            first_ns: (worker as f64 * 1e9 / rate_rps).round() as u64,
            interval_ns: workers as f64 * 1e9 / rate_rps,
            n: 0,
        }
    }

    /// Poisson arrivals at `rate_rps / workers`, seeded per worker.
    pub fn poisson(rate_rps: f64, workers: usize, worker: usize, seed: u64) -> Arrivals {
        let mut rng =
            Pcg64Mcg::seed_from_u64(seed ^ (worker as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let gaps = Exp::new(rate_rps / workers as f64).expect("rate validated > 0");
        let first = gaps.sample(&mut rng);
        Arrivals::Poisson {
            next_s: first,
            gaps,
            rng,
        }
    }

    /// The next intended offset, ns from the level start.
    pub fn next_offset_ns(&mut self) -> u64 {
        match self {
            Arrivals::Constant {
                first_ns,
                interval_ns,
                n,
            } => {
                let at = *first_ns + (*n as f64 * *interval_ns).round() as u64;
                *n += 1;
                at
            }
            Arrivals::Poisson { next_s, gaps, rng } => {
                let at = *next_s;
                *next_s += gaps.sample(rng);
                (at * 1e9) as u64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_in(mut a: Arrivals, seconds: f64) -> usize {
        let limit = (seconds * 1e9) as u64;
        std::iter::from_fn(|| Some(a.next_offset_ns()))
            .take_while(|t| *t < limit)
            .count()
    }

    #[test]
    fn constant_workers_interleave_evenly() {
        let mut offsets: Vec<u64> = (0..2)
            .flat_map(|w| {
                let mut a = Arrivals::constant(100.0, 2, w);
                (0..5).map(move |_| a.next_offset_ns())
            })
            .collect();
        offsets.sort_unstable();
        let gaps: Vec<u64> = offsets.windows(2).map(|p| p[1] - p[0]).collect();
        assert!(gaps.iter().all(|g| g.abs_diff(10_000_000) <= 1), "{gaps:?}");
    }

    #[test]
    fn poisson_rate_is_right() {
        let n: usize = (0..2)
            .map(|w| count_in(Arrivals::poisson(1000.0, 2, w, 7), 20.0))
            .sum();
        assert!(
            (n as f64 - 20_000.0).abs() < 600.0,
            "{n} arrivals in 20 s at 1000/s"
        );
    }
}
