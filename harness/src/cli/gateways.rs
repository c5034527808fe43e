//! `gatebench gateways list | install NAME | check NAME`.

use mock_upstream::{MockConfig, MockServer};

use reports::text_table::aligned;

use crate::error::{Error, Result};
use crate::gateways::launch::Runtime;
use crate::gateways::{self, Placeholders};
use crate::home;
use crate::orchestrate::control;
use crate::run::start::{self, StartContext};
use crate::run::targets::{gateway_endpoint, gateway_info};

/// Arguments of `gatebench gateways`.
#[derive(Debug, clap::Args)]
pub struct GatewaysCommand {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Every gateways/<name>/ folder: kind, runtimes, profiler, installed or not.
    List {
        /// One JSON object per gateway instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Run gateways/NAME/install.sh (idempotent; installs under .cache/gateways/NAME/).
    Install { name: String },
    /// Start NAME in front of a fresh mock and send one streamed and one non-streamed request
    /// through it. Exit 0 when it serves both, 1 when it does not, 2 when it cannot start.
    Check {
        name: String,
        #[arg(long, value_enum, default_value = "process")]
        runtime: Runtime,
    },
}

/// Runs the action.
pub fn execute(cmd: GatewaysCommand) -> Result<()> {
    // Every action reads gateways/: say where it looked when there is none.
    home::find()?;
    match cmd.action {
        Action::List { json } => {
            list(json);
            Ok(())
        }
        Action::Install { name } => {
            gateways::load(&name)?.install()?;
            println!("gatebench: {name} installed");
            Ok(())
        }
        Action::Check { name, runtime } => check(&name, runtime),
    }
}

fn list(json: bool) {
    let mut rows = Vec::new();
    for name in gateways::names() {
        let row = match gateways::load(&name) {
            Ok(d) => {
                let placeholders =
                    Placeholders::new(&d, 0, "127.0.0.1:0".parse().expect("addr"), &d.dir, "");
                let runtimes: Vec<&str> = [
                    (d.process.is_some() || name == "reference").then_some("process"),
                    d.container.is_some().then_some("container"),
                ]
                .into_iter()
                .flatten()
                .collect();
                let installed = if name == "reference" {
                    "built in".to_string()
                } else if d.process.is_none() {
                    "container only".to_string()
                } else {
                    match d.missing_requirement(&placeholders) {
                        None => "yes".to_string(),
                        Some(missing) => format!("no ({missing} missing)"),
                    }
                };
                serde_json::json!({
                    "name": name,
                    "kind": d.kind,
                    "runtimes": runtimes,
                    "profiler": d.profiler,
                    "installed": installed,
                    "description": d.description,
                })
            }
            Err(error) => serde_json::json!({"name": name, "error": error.to_string()}),
        };
        rows.push(row);
    }
    if json {
        for row in &rows {
            println!("{row}");
        }
        return;
    }
    let header = [
        "name",
        "kind",
        "runtimes",
        "profiler",
        "installed",
        "description",
    ];
    let mut table = Vec::new();
    for row in rows {
        let text = |key: &str| row[key].as_str().unwrap_or("").to_string();
        if let Some(error) = row["error"].as_str() {
            table.push(vec![text("name"), format!("error: {error}")]);
            continue;
        }
        let runtimes: Vec<&str> = row["runtimes"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        table.push(vec![
            text("name"),
            text("kind"),
            runtimes.join(","),
            text("profiler"),
            text("installed"),
            text("description"),
        ]);
    }
    print!("{}", aligned(&header, &table, header.len()));
}

/// Starts `name` in front of a fresh mock and checks it serves: Ok, [`Error::Check`] when it
/// does not (exit 1), other errors when it cannot start (exit 2 or 3).
fn check(name: &str, runtime: Runtime) -> Result<()> {
    if name == "reference" {
        return Err(Error::Input("the reference gateway is checked by every `gatebench run`; check names a gateways/<name>/ folder".into()));
    }
    gateways::load(name)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::failed("cannot start a runtime", e))?;
    let mock = rt
        .block_on(MockServer::start(
            "127.0.0.1:0".parse().expect("a literal address parses"),
            MockConfig::default(),
        ))
        .map_err(|e| Error::Failed(e.to_string()))?;
    let work = std::env::temp_dir().join(format!("gatebench-check-{name}-{}", std::process::id()));
    let logs = work.join("logs");
    let result = check_in(name, runtime, &rt, mock.local_addr(), &work, &logs);
    rt.block_on(mock.shutdown());
    match result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&work);
            Ok(())
        }
        Err(Error::Check(why)) => Err(Error::Check(format!(
            "{name} failed the check: {why} (logs: {})",
            logs.display()
        ))),
        Err(error) => Err(Error::Input(format!(
            "{name} could not start: {error} (logs: {})",
            logs.display()
        ))),
    }
}

fn check_in(
    name: &str,
    runtime: Runtime,
    rt: &tokio::runtime::Runtime,
    mock: std::net::SocketAddr,
    work: &std::path::Path,
    logs: &std::path::Path,
) -> Result<()> {
    std::fs::create_dir_all(logs).map_err(|e| Error::failed(logs.display(), e))?;
    let exe = std::env::current_exe().map_err(|e| Error::failed("cannot find gatebench", e))?;
    let model = MockConfig::default();
    let ctx = StartContext {
        gateway_exe: &exe,
        logs,
        dir: work,
        mock,
        pin: None,
        runtime,
        model_name: "gpt-4o-mini",
        profile_hz: 99,
        rt,
    };
    println!(
        "gatebench: starting {name} ({}) in front of the mock at {mock}…",
        runtime.name()
    );
    let mut info = gateway_info(name, runtime.name());
    let started = start::start_gateway(name, &mut info, &ctx)?;
    if let Some(version) = &info.version {
        println!("gatebench: version: {version}");
    }
    let spec = started.request.as_ref();
    let model_name = spec
        .and_then(|s| s.model.clone())
        .unwrap_or_else(|| "gpt-4o-mini".into());
    let endpoint = gateway_endpoint(started.addr, false, spec, None)?;
    let check = rt.block_on(control::functional_check(
        &endpoint,
        &model_name,
        "check",
        model.itl_ms.mean(),
    ));
    let rss = started.running.as_ref().and_then(|r| r.usage().rss_bytes());
    drop(started);
    check.map_err(Error::Check)?;
    println!(
        "gatebench: {name} serves streamed and non-streamed completions (RSS {})",
        rss.map_or("unknown".into(), |b| format!(
            "{:.1} MiB",
            b as f64 / (1024.0 * 1024.0)
        ))
    );
    Ok(())
}
