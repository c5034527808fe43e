//! Value distributions for the mock's knobs (TTFT, inter-token gap, output tokens, tokens per chunk).
//!
//! A distribution is written the same way in a scenario file and in an `x-mock-*` header:
//! `50` or `fixed:50`, `uniform:MIN:MAX`, `normal:MEAN:STD`, `lognormal:MEAN:STD`.
//! Lognormal is parameterised by the mean and standard deviation of the values it produces (not of
//! their logarithm), so `lognormal:50:10` has a sample mean of about 50.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_distr::{Distribution as _, LogNormal, Normal};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A distribution of non-negative values; samples below zero are clamped to zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    /// Always this value.
    Fixed(f64),
    /// Uniform on `[min, max]`.
    Uniform { min: f64, max: f64 },
    /// Normal with this mean and standard deviation.
    Normal { mean: f64, std: f64 },
    /// Lognormal whose samples have this mean and standard deviation.
    LogNormal { mean: f64, std: f64 },
}

/// Why a distribution string was rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid distribution `{text}`: {reason} (expected N, fixed:N, uniform:MIN:MAX, normal:MEAN:STD or lognormal:MEAN:STD)")]
pub struct DistributionError {
    text: String,
    reason: &'static str,
}

impl Distribution {
    /// Draws one value (≥ 0) from the distribution.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let value = match *self {
            Distribution::Fixed(v) => v,
            Distribution::Uniform { min, max } => {
                if max > min {
                    rng.gen_range(min..=max)
                } else {
                    min
                }
            }
            Distribution::Normal { mean, std } => Normal::new(mean, std)
                .expect("std validated finite and >= 0")
                .sample(rng),
            Distribution::LogNormal { mean, std } => {
                if mean <= 0.0 {
                    0.0
                } else {
                    let sigma2 = (1.0 + (std * std) / (mean * mean)).ln();
                    let mu = mean.ln() - sigma2 / 2.0;
                    LogNormal::new(mu, sigma2.sqrt())
                        .expect("sigma validated finite and >= 0")
                        .sample(rng)
                }
            }
        };
        value.max(0.0)
    }

    /// The largest value it is meant to produce: `max` for a uniform, the mean for the
    /// unbounded ones (their tails are clamped where they are used).
    pub fn nominal_max(&self) -> f64 {
        match *self {
            Distribution::Fixed(v) => v,
            Distribution::Uniform { max, .. } => max,
            Distribution::Normal { mean, .. } | Distribution::LogNormal { mean, .. } => mean,
        }
    }

    /// The distribution's mean, before clamping at zero.
    pub fn mean(&self) -> f64 {
        match *self {
            Distribution::Fixed(v) => v,
            Distribution::Uniform { min, max } => (min + max) / 2.0,
            Distribution::Normal { mean, .. } | Distribution::LogNormal { mean, .. } => mean,
        }
    }
}

fn parse_number(text: &str, part: &str) -> Result<f64, DistributionError> {
    let value: f64 = part.trim().parse().map_err(|_| DistributionError {
        text: text.to_string(),
        reason: "a parameter is not a number",
    })?;
    if !value.is_finite() || value < 0.0 {
        return Err(DistributionError {
            text: text.to_string(),
            reason: "parameters must be finite and >= 0",
        });
    }
    Ok(value)
}

impl FromStr for Distribution {
    type Err = DistributionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.trim().split(':').collect();
        let err = |reason| DistributionError {
            text: text.to_string(),
            reason,
        };
        match parts.as_slice() {
            [value] => Ok(Distribution::Fixed(parse_number(text, value)?)),
            ["fixed", value] => Ok(Distribution::Fixed(parse_number(text, value)?)),
            ["uniform", a, b] => {
                let (min, max) = (parse_number(text, a)?, parse_number(text, b)?);
                if min > max {
                    return Err(err("uniform needs MIN <= MAX"));
                }
                Ok(Distribution::Uniform { min, max })
            }
            ["normal", a, b] => Ok(Distribution::Normal {
                mean: parse_number(text, a)?,
                std: parse_number(text, b)?,
            }),
            ["lognormal", a, b] => Ok(Distribution::LogNormal {
                mean: parse_number(text, a)?,
                std: parse_number(text, b)?,
            }),
            _ => Err(err("unknown form")),
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distribution::Fixed(v) => write!(f, "fixed:{v}"),
            Distribution::Uniform { min, max } => write!(f, "uniform:{min}:{max}"),
            Distribution::Normal { mean, std } => write!(f, "normal:{mean}:{std}"),
            Distribution::LogNormal { mean, std } => write!(f, "lognormal:{mean}:{std}"),
        }
    }
}

impl Serialize for Distribution {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Distribution::Fixed(v) => serializer.serialize_f64(*v),
            other => serializer.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Distribution {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(v) if v.is_finite() && v >= 0.0 => Ok(Distribution::Fixed(v)),
            Raw::Number(v) => Err(serde::de::Error::custom(format!(
                "distribution value {v} must be finite and >= 0"
            ))),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn sample_mean(dist: Distribution, n: usize) -> f64 {
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        (0..n).map(|_| dist.sample(&mut rng)).sum::<f64>() / n as f64
    }

    #[test]
    fn parses_every_form() {
        assert_eq!("50".parse(), Ok(Distribution::Fixed(50.0)));
        assert_eq!("fixed:2.5".parse(), Ok(Distribution::Fixed(2.5)));
        assert_eq!(
            "uniform:10:30".parse(),
            Ok(Distribution::Uniform {
                min: 10.0,
                max: 30.0
            })
        );
        assert_eq!(
            "normal:50:5".parse(),
            Ok(Distribution::Normal {
                mean: 50.0,
                std: 5.0
            })
        );
        assert_eq!(
            "lognormal:50:10".parse(),
            Ok(Distribution::LogNormal {
                mean: 50.0,
                std: 10.0
            })
        );
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "",
            "abc",
            "uniform:30:10",
            "normal:1",
            "fixed:-1",
            "gamma:1:2",
            "fixed:nan",
        ] {
            assert!(
                bad.parse::<Distribution>().is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn sample_means_are_within_tolerance() {
        let n = 200_000;
        let cases = [
            (Distribution::Fixed(20.0), 20.0),
            (
                Distribution::Uniform {
                    min: 10.0,
                    max: 30.0,
                },
                20.0,
            ),
            (
                Distribution::Normal {
                    mean: 50.0,
                    std: 5.0,
                },
                50.0,
            ),
            (
                Distribution::LogNormal {
                    mean: 50.0,
                    std: 20.0,
                },
                50.0,
            ),
        ];
        for (dist, expected) in cases {
            let mean = sample_mean(dist, n);
            assert!(
                (mean - expected).abs() < expected * 0.01,
                "{dist}: sample mean {mean} not within 1% of {expected}"
            );
        }
    }

    #[test]
    fn lognormal_std_matches() {
        let dist = Distribution::LogNormal {
            mean: 50.0,
            std: 20.0,
        };
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let samples: Vec<f64> = (0..200_000).map(|_| dist.sample(&mut rng)).collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / samples.len() as f64;
        assert!((var.sqrt() - 20.0).abs() < 1.0, "std {}", var.sqrt());
    }

    #[test]
    fn serde_round_trip() {
        #[derive(Deserialize, Serialize)]
        struct Wrap {
            d: Distribution,
        }
        let w: Wrap = toml::from_str("d = 'uniform:1:3'").expect("valid toml");
        assert_eq!(w.d, Distribution::Uniform { min: 1.0, max: 3.0 });
        let w: Wrap = toml::from_str("d = 7").expect("valid toml");
        assert_eq!(w.d, Distribution::Fixed(7.0));
        assert!(toml::from_str::<Wrap>("d = -1").is_err());
    }
}
