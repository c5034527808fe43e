//! Gateway definitions: `gateways/<name>/gateway.toml` (schema in `gateways/README.md`), read,
//! checked and rendered with a run's placeholders. Starting them is [`launch`]; profiling them is
//! [`profilers`].

pub mod gopprof;
pub mod launch;
pub mod offcpu;
pub mod profilers;
pub mod pywaits;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use serde::Deserialize;

/// Folder holding one sub-folder per gateway, relative to the checkout.
pub const GATEWAYS_DIR: &str = "gateways";

/// A parsed `gateway.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default)]
    pub install: Option<String>,
    #[serde(default)]
    pub version_command: Vec<String>,
    #[serde(default = "default_profiler")]
    pub profiler: String,
    #[serde(default)]
    pub workers: Option<String>,
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub request: RequestSpec,
    #[serde(default)]
    pub ready: ReadySpec,
    #[serde(default)]
    pub config: Option<ConfigSpec>,
    #[serde(default)]
    pub process: Option<ProcessSpec>,
    #[serde(default)]
    pub container: Option<ContainerSpec>,
    #[serde(default)]
    pub stage_map: BTreeMap<String, String>,
    /// The folder it was read from (absolute).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// How requests reach the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    #[serde(default = "default_path")]
    pub path: String,
    /// Where the gateway serves Anthropic Messages (e.g. `/v1/messages`), if it does: scenarios
    /// with `protocol = "anthropic"` measure only gateways that have one.
    #[serde(default)]
    pub anthropic_path: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Default for RequestSpec {
    fn default() -> Self {
        RequestSpec {
            path: default_path(),
            anthropic_path: None,
            model: None,
            api_key: None,
            headers: BTreeMap::new(),
        }
    }
}

/// Readiness probe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default = "default_ready_timeout")]
    pub timeout_s: f64,
}

impl Default for ReadySpec {
    fn default() -> Self {
        ReadySpec {
            path: None,
            timeout_s: default_ready_timeout(),
        }
    }
}

/// A config template rendered once per run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    pub template: String,
    pub file: String,
}

/// Starting it as a local process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub requires: Vec<String>,
}

/// Starting it as a container.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    pub image: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub mounts: Vec<(String, String)>,
}

fn default_kind() -> String {
    "ai-gateway".into()
}
fn default_profiler() -> String {
    "none".into()
}
fn default_path() -> String {
    "/v1/chat/completions".into()
}
fn default_ready_timeout() -> f64 {
    30.0
}

/// The home gatebench works in (see [`crate::home`]).
pub fn repo_root() -> PathBuf {
    crate::home::root()
}

/// Names of every folder under `gateways/` holding a `gateway.toml`, sorted.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join(GATEWAYS_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("gateway.toml").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Reads `gateways/<name>/gateway.toml`.
pub fn load(name: &str) -> Result<Definition> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let dir = repo_root().join(GATEWAYS_DIR).join(name);
    let path = dir.join("gateway.toml");
    if !valid || !path.is_file() {
        return Err(Error::Input(format!(
            "unknown gateway `{name}`: no {}/{name}/gateway.toml (known: {})",
            crate::home::gateways_dir().display(),
            names().join(", ")
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::input(path.display(), e))?;
    let mut definition: Definition =
        toml::from_str(&text).map_err(|e| Error::input(path.display(), e.message().trim()))?;
    if definition.name != name {
        return Err(Error::input(
            path.display(),
            format!(
                "name = \"{}\" but the folder is `{name}`; make them equal",
                definition.name
            ),
        ));
    }
    if !["admin", "perf", "py-spy", "node", "go-pprof", "none"]
        .contains(&definition.profiler.as_str())
    {
        return Err(Error::input(
            path.display(),
            format!(
                "profiler = \"{}\" is not one of admin, perf, py-spy, node, go-pprof, none",
                definition.profiler
            ),
        ));
    }
    definition.dir = dir
        .canonicalize()
        .map_err(|e| Error::input(dir.display(), e))?;
    Ok(definition)
}

impl Definition {
    /// `<repo>/.cache/gateways/<name>`: where `install.sh` installs.
    pub fn cache_dir(&self) -> PathBuf {
        repo_root().join(".cache/gateways").join(&self.name)
    }

    /// `None` when the process runtime's `requires` all exist; else what is missing.
    pub fn missing_requirement(&self, placeholders: &Placeholders) -> Option<String> {
        let process = self.process.as_ref()?;
        process
            .requires
            .iter()
            .map(|r| placeholders.render(r))
            .find(|r| !Path::new(r).exists())
    }

    /// Runs `install.sh` (inheriting stdout/stderr so its progress shows).
    pub fn install(&self) -> Result<()> {
        let Some(script) = &self.install else {
            return Ok(());
        };
        let cache = self.cache_dir();
        std::fs::create_dir_all(&cache).map_err(|e| Error::failed(cache.display(), e))?;
        let status = std::process::Command::new("bash")
            .arg(self.dir.join(script))
            .current_dir(&self.dir)
            .env("GATEBENCH_CACHE", &cache)
            .env("GATEBENCH_REPO", repo_root())
            .env(crate::home::HOME_ENV, repo_root())
            .status()
            .map_err(|e| Error::failed(format!("cannot run {script}"), e))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Failed(format!(
                "{}/{script} failed ({status}); its output is above",
                self.dir.display()
            )))
        }
    }

    /// The gateway's own version line, from `version_command` (rendered).
    pub fn version(&self, placeholders: &Placeholders) -> Option<String> {
        let (program, args) = self.version_command.split_first()?;
        let output = std::process::Command::new(placeholders.render(program))
            .args(args.iter().map(|a| placeholders.render(a)))
            .current_dir(&self.dir)
            .output()
            .ok()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    }
}

/// Values for `{…}` placeholders in a definition.
#[derive(Debug, Clone)]
pub struct Placeholders {
    values: Vec<(&'static str, String)>,
}

impl Placeholders {
    /// Placeholders for `definition` listening on `port`, in front of the mock at `mock`, with
    /// its per-run working directory `work`.
    pub fn new(
        definition: &Definition,
        port: u16,
        mock: std::net::SocketAddr,
        work: &Path,
        model: &str,
    ) -> Placeholders {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let config = definition
            .config
            .as_ref()
            .map(|c| work.join(&c.file).display().to_string())
            .unwrap_or_default();
        Placeholders {
            values: vec![
                ("port", port.to_string()),
                ("host", "127.0.0.1".into()),
                ("mock_url", format!("http://{mock}")),
                ("mock_host", mock.ip().to_string()),
                ("mock_port", mock.port().to_string()),
                ("config", config),
                ("work", work.display().to_string()),
                ("dir", definition.dir.display().to_string()),
                ("cache", definition.cache_dir().display().to_string()),
                ("cores", cores.to_string()),
                ("model", model.to_string()),
            ],
        }
    }

    /// `text` with every known `{name}` replaced; unknown braces are left as they are (configs
    /// such as nginx's use braces of their own).
    pub fn render(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in &self.values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(text: &str) -> Definition {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn placeholders_render_known_names_and_keep_other_braces() {
        let mut d = definition("name = \"x\"");
        d.dir = PathBuf::from("/g/x");
        let p = Placeholders::new(
            &d,
            4000,
            "127.0.0.1:9000".parse().expect("addr"),
            Path::new("/w"),
            "m",
        );
        assert_eq!(
            p.render("listen {host}:{port}; upstream {mock_url}/v1; location / { x }"),
            "listen 127.0.0.1:4000; upstream http://127.0.0.1:9000/v1; location / { x }"
        );
        assert_eq!(p.render("{work}/{dir}"), "/w//g/x");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = toml::from_str::<Definition>("name = \"x\"\nprofilr = \"perf\"").unwrap_err();
        assert!(error.message().contains("profilr"), "{error}");
    }

    #[test]
    fn shipped_definitions_parse() {
        let names = names();
        assert!(names.contains(&"nginx".to_string()), "{names:?}");
        for name in names {
            let d = load(&name).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                d.process.is_some() || d.container.is_some() || name == "reference",
                "{name}: neither [process] nor [container]"
            );
            for stage in d.stage_map.keys() {
                assert!(
                    contract::Stage::ALL.iter().any(|s| s.name() == stage),
                    "{name}: stage_map names unknown stage `{stage}`"
                );
            }
        }
    }
}
