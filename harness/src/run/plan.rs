//! Options → a validated plan: the scenario with its overrides applied, the targets in the order
//! they are measured (`direct` first), and the addresses of targets gatebench does not start.
//! Pure apart from listing `gateways/`, so every rule is unit-tested here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::RunOptions;
use crate::error::{Error, Result};
use crate::gateways;
use crate::home;
use crate::scenario::{LoadModel, Scenario};

/// What a run will do, checked before anything starts.
#[derive(Debug)]
pub struct Plan {
    pub scenario: Scenario,
    /// Every target in measuring order: `direct`, then the rest as given.
    pub target_names: Vec<String>,
    /// Targets already running elsewhere (`--target-url`): measured, not started.
    pub url_targets: HashMap<String, SocketAddr>,
    /// A running mock to use as `direct` (`--direct-url`).
    pub direct_addr: Option<SocketAddr>,
}

impl Plan {
    /// Validates `options` into a plan; every error is bad input (exit 2).
    pub fn from_options(options: &RunOptions) -> Result<Plan> {
        let mut scenario = options
            .source
            .parse()
            .map_err(|e| Error::Input(e.to_string()))?;
        if let Some(warmup) = options.warmup_s {
            scenario.load.warmup_s = warmup;
        }
        if let Some(duration) = options.duration_s {
            scenario.load.duration_s = duration;
        }
        scenario.validate().map_err(Error::Input)?;
        let known = gateways::names();
        let mut target_names = target_list(&scenario, options.targets.clone(), &known)?;
        let mut url_targets = HashMap::new();
        for (name, url) in &options.target_urls {
            if target_names.contains(name) || url_targets.contains_key(name) {
                return Err(Error::Input(format!(
                    "--target-url {name}=…: `{name}` is already a target; give it another name"
                )));
            }
            let addr =
                resolve_url(url).map_err(|e| Error::input(format!("--target-url {name}"), e))?;
            url_targets.insert(name.clone(), addr);
            target_names.push(name.clone());
        }
        let direct_addr = match &options.direct_url {
            Some(url) => Some(resolve_url(url).map_err(|e| Error::input("--direct-url", e))?),
            None => None,
        };
        if let Some(shard) = options.shard {
            check_shard(&scenario, shard.index, shard.count)?;
            let now_ms = super::shard::now_unix_ms();
            if shard.start_at_unix_ms < now_ms {
                return Err(Error::Input(format!(
                    "--shard {}/{}: the common start {} is {:.1} s in the past; give a future --start-at (or a fresh --start-file)",
                    shard.index,
                    shard.count,
                    shard.start_at_unix_ms,
                    (now_ms - shard.start_at_unix_ms) as f64 / 1000.0
                )));
            }
        }
        Ok(Plan {
            scenario,
            target_names,
            url_targets,
            direct_addr,
        })
    }

    /// Whether `name` is the reference gateway or one of its variants.
    pub fn is_reference(name: &str) -> bool {
        name == "reference" || reference_variant(name).is_some()
    }
}

fn check_shard(scenario: &Scenario, index: u32, count: u32) -> Result<()> {
    if count == 0 || index >= count {
        return Err(Error::Input(format!(
            "--shard {index}/{count}: the index must be below the count"
        )));
    }
    if scenario.load.model == LoadModel::Closed {
        if let Some(level) = scenario.load.levels.iter().find(|l| (**l as u32) < count) {
            return Err(Error::Input(format!(
                "--shard {index}/{count}: a closed-loop level of {level} virtual users cannot be split over {count} shards"
            )));
        }
    }
    Ok(())
}

/// `direct` first, then the requested targets (the scenario's unless overridden), each checked
/// against `known` (the folders of `gateways/`) and the reference variants.
fn target_list(
    scenario: &Scenario,
    override_targets: Option<Vec<String>>,
    known: &[String],
) -> Result<Vec<String>> {
    let mut names = vec!["direct".to_string()];
    let third_party: Vec<&String> = known.iter().filter(|n| *n != "reference").collect();
    for name in override_targets.unwrap_or_else(|| scenario.targets.clone()) {
        if name == "direct" || names.contains(&name) {
            continue;
        }
        let is_known = name == "reference"
            || third_party.contains(&&name)
            || reference_variant(&name).is_some_and(|path| path.is_file());
        if !is_known {
            let listed: Vec<&str> = third_party.iter().map(|s| s.as_str()).collect();
            return Err(Error::Input(format!(
                "unknown target `{name}`: known targets are direct, reference, reference@VARIANT for each gateways/reference/VARIANT.toml{}, and the gateways in {} ({}); see `gatebench gateways list`",
                variant_list(),
                home::gateways_dir().display(),
                listed.join(", ")
            )));
        }
        names.push(name);
    }
    Ok(names)
}

/// `reference@VARIANT` → `gateways/reference/VARIANT.toml` (a reference gateway configuration).
pub fn reference_variant(name: &str) -> Option<PathBuf> {
    let variant = name.strip_prefix("reference@")?;
    let valid = variant != "gateway"
        && !variant.is_empty()
        && variant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then(|| {
        home::gateways_dir()
            .join("reference")
            .join(format!("{variant}.toml"))
    })
}

fn variant_list() -> String {
    let mut variants: Vec<String> = std::fs::read_dir(home::gateways_dir().join("reference"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".toml")
                .filter(|v| *v != "gateway")
                .map(|v| format!("reference@{v}"))
        })
        .collect();
    variants.sort();
    if variants.is_empty() {
        String::new()
    } else {
        format!(" ({})", variants.join(", "))
    }
}

/// `http://host:port[/…]` → a socket address (host names resolved).
pub fn resolve_url(url: &str) -> std::result::Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}`: only http://HOST:PORT URLs are supported"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("`{url}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{url}`: no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ScenarioSource;

    /// A scenario named `t` with `top` before its `[load]` table and `load` inside it.
    fn scenario(top: &str, load: &str) -> Scenario {
        let text = format!("name = \"t\"\n{top}[load]\nduration_s = 1\n{load}");
        ScenarioSource::inline("test", &text)
            .parse()
            .expect("parses")
    }

    #[test]
    fn direct_comes_first_and_duplicates_collapse() {
        let s = scenario("targets = [\"reference\"]\n", "levels = [1]\n");
        let known = vec!["reference".to_string(), "nginx".to_string()];
        let names = target_list(
            &s,
            Some(vec!["nginx".into(), "direct".into(), "nginx".into()]),
            &known,
        )
        .expect("known targets");
        assert_eq!(names, ["direct", "nginx"]);
        assert_eq!(
            target_list(&s, None, &known).expect("default"),
            ["direct", "reference"]
        );
    }

    #[test]
    fn unknown_targets_are_named_with_the_known_ones() {
        let s = scenario("", "levels = [1]\n");
        let error = target_list(&s, Some(vec!["ngnix".into()]), &["nginx".to_string()])
            .expect_err("unknown");
        let text = error.to_string();
        assert!(text.contains("`ngnix`") && text.contains("nginx"), "{text}");
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn shards_must_fit_the_levels() {
        let closed = scenario("", "model = \"closed\"\nlevels = [2, 8]\n");
        assert!(check_shard(&closed, 0, 2).is_ok());
        assert!(check_shard(&closed, 0, 4).is_err(), "2 VUs over 4 shards");
        assert!(check_shard(&closed, 2, 2).is_err(), "index below count");
    }

    #[test]
    fn urls_resolve_or_say_why() {
        assert_eq!(
            resolve_url("http://127.0.0.1:9/x").expect("resolves"),
            "127.0.0.1:9".parse::<SocketAddr>().expect("addr")
        );
        assert!(resolve_url("https://127.0.0.1:9").is_err());
        assert!(reference_variant("reference@").is_none());
        assert!(reference_variant("reference@../x").is_none());
        assert!(reference_variant("reference@full").is_some());
    }
}
