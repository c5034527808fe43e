//! `gatebench gateways list | install NAME | check NAME`.

use mock_upstream::{MockConfig, MockServer};

use crate::gateways::launch::{self, Runtime};
use crate::gateways::{self, Placeholders};
use crate::orchestrate::control;

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

/// Runs the action; returns the exit code.
pub fn execute(cmd: GatewaysCommand) -> i32 {
    match cmd.action {
        Action::List { json } => list(json),
        Action::Install { name } => match gateways::load(&name).and_then(|d| d.install()) {
            Ok(()) => {
                println!("gatebench: {name} installed");
                0
            }
            Err(error) => {
                eprintln!("gatebench: error: {error}");
                2
            }
        },
        Action::Check { name, runtime } => check(&name, runtime),
    }
}

fn list(json: bool) -> i32 {
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
            Err(error) => serde_json::json!({"name": name, "error": error}),
        };
        rows.push(row);
    }
    if json {
        for row in &rows {
            println!("{row}");
        }
        return 0;
    }
    println!(
        "{:<20} {:<11} {:<18} {:<8} {:<28} description",
        "name", "kind", "runtimes", "profiler", "installed"
    );
    for row in rows {
        let text = |key: &str| row[key].as_str().unwrap_or("").to_string();
        if let Some(error) = row["error"].as_str() {
            println!("{:<20} error: {error}", text("name"));
            continue;
        }
        let runtimes: Vec<&str> = row["runtimes"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        println!(
            "{:<20} {:<11} {:<18} {:<8} {:<28} {}",
            text("name"),
            text("kind"),
            runtimes.join(","),
            text("profiler"),
            text("installed"),
            text("description")
        );
    }
    0
}

fn check(name: &str, runtime: Runtime) -> i32 {
    let definition = match gateways::load(name) {
        Ok(d) => d,
        Err(error) => {
            eprintln!("gatebench: error: {error}");
            return 2;
        }
    };
    if name == "reference" {
        eprintln!("gatebench: error: the reference gateway is checked by every `gatebench run`; check names a gateways/<name>/ folder");
        return 2;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("gatebench: error: cannot start a runtime: {error}");
            return 2;
        }
    };
    let mock = match rt.block_on(MockServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        MockConfig::default(),
    )) {
        Ok(mock) => mock,
        Err(error) => {
            eprintln!("gatebench: error: {error}");
            return 2;
        }
    };
    let work = std::env::temp_dir().join(format!("gatebench-check-{name}-{}", std::process::id()));
    let result = (|| {
        std::fs::create_dir_all(work.join("logs")).map_err(|e| (2, e.to_string()))?;
        let port = launch::free_port().map_err(|e| (2, e))?;
        let model = definition
            .request
            .model
            .clone()
            .unwrap_or_else(|| "gpt-4o-mini".into());
        let placeholders = Placeholders::new(&definition, port, mock.local_addr(), &work, &model);
        println!(
            "gatebench: starting {name} ({}) on 127.0.0.1:{port} in front of the mock at {}…",
            runtime.name(),
            mock.local_addr()
        );
        let plan = launch::Plan {
            definition: &definition,
            runtime,
            placeholders: &placeholders,
            port,
            log_dir: &work.join("logs"),
            work: &work,
            pin: None,
        };
        let launched = launch::start(&plan, &rt).map_err(|e| (2, e))?;
        if let Some(version) = definition.version(&placeholders) {
            println!("gatebench: version: {version}");
        }
        let mut spec = definition.request.clone();
        spec.model = Some(model.clone());
        spec.headers = spec
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), placeholders.render(v)))
            .collect();
        let endpoint = crate::run::gateway_endpoint(launched.addr, false, Some(&spec), None)
            .map_err(|e| (2, e))?;
        let check = rt.block_on(control::functional_check(
            &endpoint,
            &model,
            "check",
            MockConfig::default().itl_ms.mean(),
        ));
        let rss = launched.usage.rss_bytes();
        drop(launched);
        check.map_err(|e| (1, e))?;
        println!(
            "gatebench: {name} serves streamed and non-streamed completions (RSS {})",
            rss.map_or("unknown".into(), |b| format!(
                "{:.1} MiB",
                b as f64 / (1024.0 * 1024.0)
            ))
        );
        Ok::<(), (i32, String)>(())
    })();
    rt.block_on(mock.shutdown());
    match result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&work);
            0
        }
        Err((code, error)) => {
            eprintln!(
                "gatebench: {name} {}: {error} (logs: {})",
                if code == 1 {
                    "failed the check"
                } else {
                    "could not start"
                },
                work.join("logs").display()
            );
            code
        }
    }
}
