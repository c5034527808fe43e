//! Where gatebench finds its `gateways/` (and `scenarios/` on disk), so it works from any
//! directory: `--home DIR` (which sets `GATEBENCH_HOME` for this process and its children), else
//! `GATEBENCH_HOME` (or the older `GATEBENCH_REPO`), else the nearest ancestor of the working
//! directory that holds `gateways/`, else the checkout this binary was built in.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The environment variable naming the home (`--home` sets it).
pub const HOME_ENV: &str = "GATEBENCH_HOME";

/// The folder of gateway definitions, relative to the home.
pub const GATEWAYS_DIR: &str = "gateways";

/// The checkout this binary was built from (a compile-time path; may not exist at run time).
const BUILT_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Every place looked at, in order, and what was found.
fn candidates() -> Vec<(String, Option<PathBuf>)> {
    let mut places = Vec::new();
    for var in [HOME_ENV, "GATEBENCH_REPO"] {
        if let Some(dir) = std::env::var_os(var) {
            places.push((format!("${var}"), Some(PathBuf::from(dir))));
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        let found = cwd
            .ancestors()
            .find(|dir| dir.join(GATEWAYS_DIR).is_dir())
            .map(Path::to_path_buf);
        places.push((
            format!("{} and its parents", cwd.display()),
            found.or(Some(cwd)),
        ));
    }
    places.push((
        "the checkout gatebench was built in".into(),
        Some(PathBuf::from(BUILT_IN)),
    ));
    places
}

/// Finds the home: the first candidate holding `gateways/`, or an error naming every place.
pub fn find() -> Result<PathBuf> {
    let places = candidates();
    // An explicit home is taken as given, so a wrong one is reported rather than skipped.
    if let Some((name, Some(dir))) = places.first().filter(|(name, _)| name.starts_with('$')) {
        if dir.join(GATEWAYS_DIR).is_dir() {
            return Ok(dir.clone());
        }
        return Err(Error::Input(format!(
            "{name} = {}: no {GATEWAYS_DIR}/ folder there (point --home at a gatebench checkout)",
            dir.display()
        )));
    }
    for (_, dir) in &places {
        if let Some(dir) = dir.as_ref().filter(|d| d.join(GATEWAYS_DIR).is_dir()) {
            return Ok(dir.canonicalize().unwrap_or_else(|_| dir.clone()));
        }
    }
    let looked: Vec<String> = places.iter().map(|(name, _)| name.clone()).collect();
    Err(Error::Input(format!(
        "no {GATEWAYS_DIR}/ folder found (looked in: {}); run from a gatebench checkout or pass --home DIR",
        looked.join("; ")
    )))
}

/// The home, found once per process; the working directory when none was found (commands that
/// need `gateways/` call [`find`] to report why).
pub fn root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        find().unwrap_or_else(|_| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
    })
    .clone()
}

/// `<home>/gateways`.
pub fn gateways_dir() -> PathBuf {
    root().join(GATEWAYS_DIR)
}

/// `<home>/scenarios`.
pub fn scenarios_dir() -> PathBuf {
    root().join("scenarios")
}

/// Sets the home for this process and the children it starts (`--home`).
pub fn set(dir: &Path) -> Result<()> {
    if !dir.join(GATEWAYS_DIR).is_dir() {
        return Err(Error::input(
            format!("--home {}", dir.display()),
            format!("no {GATEWAYS_DIR}/ folder there (point it at a gatebench checkout)"),
        ));
    }
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    std::env::set_var(HOME_ENV, dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_checkout_has_gateways() {
        assert!(std::path::Path::new(super::BUILT_IN)
            .join(super::GATEWAYS_DIR)
            .is_dir());
    }
}
