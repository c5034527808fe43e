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
//! | `x-mock-draw` | key of the request's random draws (default: its request id) |
//! | `x-mock-tool-call` | `true` / `false`: answer with a tool call |

use http::HeaderMap;

use crate::dist::Distribution;
use crate::plan::Overrides;
use crate::request::BadRequest;

fn text<'a>(name: &'static str, value: &'a http::HeaderValue) -> Result<&'a str, BadRequest> {
    value.to_str().map_err(|_| BadRequest::Header {
        name,
        reason: "not visible ASCII".into(),
    })
}

fn distribution(
    name: &'static str,
    value: &http::HeaderValue,
) -> Result<Option<Distribution>, BadRequest> {
    let text = text(name, value)?;
    text.parse()
        .map(Some)
        .map_err(|e: crate::dist::DistributionError| BadRequest::Header {
            name,
            reason: e.to_string(),
        })
}

/// Reads every `x-mock-*` override; a bad value is a 400 naming the header. One pass over the
/// headers (most requests carry none of these), not one hash lookup per knob.
pub fn parse_overrides(headers: &HeaderMap) -> Result<Overrides, BadRequest> {
    let mut overrides = Overrides::default();
    for (name, value) in headers {
        let Some(knob) = name.as_str().strip_prefix("x-mock-") else {
            continue;
        };
        match knob {
            "ttft-ms" => overrides.ttft_ms = distribution("x-mock-ttft-ms", value)?,
            "itl-ms" => overrides.itl_ms = distribution("x-mock-itl-ms", value)?,
            "output-tokens" => {
                let tokens = distribution("x-mock-output-tokens", value)?;
                let most = tokens.map_or(0.0, |d| d.nominal_max());
                if most > f64::from(crate::config::MAX_OUTPUT_TOKENS) {
                    return Err(BadRequest::Header {
                        name: "x-mock-output-tokens",
                        reason: format!(
                            "{most} tokens is over the mock's cap of {} per response (MAX_OUTPUT_TOKENS)",
                            crate::config::MAX_OUTPUT_TOKENS
                        ),
                    });
                }
                overrides.output_tokens = tokens;
            }
            "tokens-per-chunk" => {
                overrides.tokens_per_chunk = distribution("x-mock-tokens-per-chunk", value)?
            }
            "fault" => {
                let fault = text("x-mock-fault", value)?;
                overrides.fault = Some(fault.parse().map_err(|()| BadRequest::Header {
                    name: "x-mock-fault",
                    reason: format!(
                        "unknown fault `{fault}` (use 429, 500, 503, reset, disconnect, stall, malformed or none)"
                    ),
                })?);
            }
            "stall-ms" => {
                let stall = text("x-mock-stall-ms", value)?;
                overrides.stall_ms =
                    Some(
                        stall
                            .trim()
                            .parse::<u64>()
                            .map_err(|_| BadRequest::Header {
                                name: "x-mock-stall-ms",
                                reason: format!("`{stall}` is not a whole number of milliseconds"),
                            })?,
                    );
            }
            "tool-call" => {
                overrides.tool_call = Some(match text("x-mock-tool-call", value)?.trim() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => {
                        return Err(BadRequest::Header {
                            name: "x-mock-tool-call",
                            reason: format!("`{other}` is not true or false"),
                        })
                    }
                });
            }
            "draw" => {
                let key = text("x-mock-draw", value)?;
                if !key.is_empty() {
                    overrides.draw = Some(key.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Fault, ForcedFault};

    #[test]
    fn reads_overrides_and_names_bad_header() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-mock-ttft-ms",
            "uniform:1:2".parse().expect("valid header"),
        );
        h.insert("x-mock-fault", "stall".parse().expect("valid header"));
        let o = parse_overrides(&h).expect("valid");
        assert_eq!(
            o.ttft_ms,
            Some(Distribution::Uniform { min: 1.0, max: 2.0 })
        );
        assert_eq!(o.fault, Some(ForcedFault::Some(Fault::Stall)));
        h.insert("x-mock-itl-ms", "fast".parse().expect("valid header"));
        let err = parse_overrides(&h).unwrap_err();
        assert_eq!(err.param(), Some("x-mock-itl-ms"));
    }
}
