//! `x-mock-*` request headers: per-request overrides of the scenario's knobs.
//!
//! | header | value |
//! |---|---|
//! | `x-mock-ttft-ms` | distribution, ms |
//! | `x-mock-itl-ms` | distribution, ms |
//! | `x-mock-output-tokens` | distribution, tokens |
//! | `x-mock-tokens-per-chunk` | distribution, tokens |
//! | `x-mock-fault` | `429`, `500`, `503`, `reset`, `disconnect`, `stall`, `malformed` or `none` |
//! | `x-mock-stall-ms` | integer ms |

use http::HeaderMap;

use crate::dist::Distribution;
use crate::plan::Overrides;
use crate::request::BadRequest;

fn header_text<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, BadRequest> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(Some).map_err(|_| BadRequest::Header {
            name,
            reason: "not visible ASCII".into(),
        }),
    }
}

fn distribution(headers: &HeaderMap, name: &'static str) -> Result<Option<Distribution>, BadRequest> {
    header_text(headers, name)?
        .map(|text| {
            text.parse().map_err(|e: crate::dist::DistributionError| BadRequest::Header {
                name,
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// Reads every `x-mock-*` override; a bad value is a 400 naming the header.
pub fn parse_overrides(headers: &HeaderMap) -> Result<Overrides, BadRequest> {
    let fault = header_text(headers, "x-mock-fault")?
        .map(|text| {
            text.parse().map_err(|()| BadRequest::Header {
                name: "x-mock-fault",
                reason: format!(
                    "unknown fault `{text}` (use 429, 500, 503, reset, disconnect, stall, malformed or none)"
                ),
            })
        })
        .transpose()?;
    let stall_ms = header_text(headers, "x-mock-stall-ms")?
        .map(|text| {
            text.trim().parse::<u64>().map_err(|_| BadRequest::Header {
                name: "x-mock-stall-ms",
                reason: format!("`{text}` is not a whole number of milliseconds"),
            })
        })
        .transpose()?;
    Ok(Overrides {
        ttft_ms: distribution(headers, "x-mock-ttft-ms")?,
        itl_ms: distribution(headers, "x-mock-itl-ms")?,
        output_tokens: distribution(headers, "x-mock-output-tokens")?,
        tokens_per_chunk: distribution(headers, "x-mock-tokens-per-chunk")?,
        fault,
        stall_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Fault, ForcedFault};

    #[test]
    fn reads_overrides_and_names_bad_header() {
        let mut h = HeaderMap::new();
        h.insert("x-mock-ttft-ms", "uniform:1:2".parse().expect("valid header"));
        h.insert("x-mock-fault", "stall".parse().expect("valid header"));
        let o = parse_overrides(&h).expect("valid");
        assert_eq!(o.ttft_ms, Some(Distribution::Uniform { min: 1.0, max: 2.0 }));
        assert_eq!(o.fault, Some(ForcedFault::Some(Fault::Stall)));
        h.insert("x-mock-itl-ms", "fast".parse().expect("valid header"));
        let err = parse_overrides(&h).unwrap_err();
        assert_eq!(err.param(), Some("x-mock-itl-ms"));
    }
}
