//! The fault model: which fault (if any) a request gets, decided from (seed, request id) and the
//! scenario's rates, or forced by the `x-mock-fault` header.

use std::str::FromStr;

use rand::Rng;

use crate::config::FaultConfig;

/// A fault the mock can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `retry-after`.
    Status429 = 0,
    /// 500 with an OpenAI-style error body.
    Status500 = 1,
    /// 503 with an OpenAI-style error body.
    Status503 = 2,
    /// TCP RST before any response byte.
    Reset = 3,
    /// Connection dropped after the head and part of the body.
    Disconnect = 4,
    /// No bytes for `stall_ms`, then the response resumes.
    Stall = 5,
    /// One chunk (or the non-stream body) is invalid JSON.
    Malformed = 6,
}

impl Fault {
    /// Number of fault kinds.
    pub const COUNT: usize = 7;
    /// All kinds, in the order rates are rolled.
    pub const ALL: [Fault; Fault::COUNT] = [
        Fault::Status429,
        Fault::Status500,
        Fault::Status503,
        Fault::Reset,
        Fault::Disconnect,
        Fault::Stall,
        Fault::Malformed,
    ];

    /// Name used in headers, timelines and docs.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Status429 => "429",
            Fault::Status500 => "500",
            Fault::Status503 => "503",
            Fault::Reset => "reset",
            Fault::Disconnect => "disconnect",
            Fault::Stall => "stall",
            Fault::Malformed => "malformed",
        }
    }

    /// Rolls the scenario's rates with this request's fault generator.
    pub fn roll<R: Rng + ?Sized>(config: &FaultConfig, rng: &mut R) -> Option<Fault> {
        let rates = config.rates();
        if rates.iter().all(|r| *r == 0.0) {
            return None;
        }
        let draw: f64 = rng.gen();
        let mut cumulative = 0.0;
        for (fault, rate) in Fault::ALL.iter().zip(rates) {
            cumulative += rate;
            if draw < cumulative {
                return Some(*fault);
            }
        }
        None
    }
}

/// `x-mock-fault` value: a fault name, or `none` to suppress the scenario's faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForcedFault {
    /// Never inject a fault into this request.
    None,
    /// Always inject this fault.
    Some(Fault),
}

impl FromStr for ForcedFault {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        if text.eq_ignore_ascii_case("none") {
            return Ok(ForcedFault::None);
        }
        Fault::ALL
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(text))
            .map(|f| ForcedFault::Some(*f))
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::request_rng;

    #[test]
    fn roll_follows_rates() {
        let config = FaultConfig {
            rate_500: 0.25,
            rate_stall: 0.25,
            ..FaultConfig::default()
        };
        let n = 20_000;
        let mut counts = [0usize; Fault::COUNT];
        let mut none = 0;
        for i in 0..n {
            let mut rng = request_rng(3, &format!("r{i}"), 3);
            match Fault::roll(&config, &mut rng) {
                Some(f) => counts[f as usize] += 1,
                None => none += 1,
            }
        }
        let share = |c: usize| c as f64 / n as f64;
        assert!((share(counts[Fault::Status500 as usize]) - 0.25).abs() < 0.02);
        assert!((share(counts[Fault::Stall as usize]) - 0.25).abs() < 0.02);
        assert!((share(none) - 0.5).abs() < 0.02);
        assert_eq!(counts[Fault::Reset as usize], 0);
    }

    #[test]
    fn forced_parses_names() {
        assert_eq!("reset".parse(), Ok(ForcedFault::Some(Fault::Reset)));
        assert_eq!("429".parse(), Ok(ForcedFault::Some(Fault::Status429)));
        assert_eq!("NONE".parse(), Ok(ForcedFault::None));
        assert!("boom".parse::<ForcedFault>().is_err());
    }
}
