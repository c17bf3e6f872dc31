//! The browser peer's files: `integration-tests/browser/`, built into `dist/`
//! when it is missing or older than its sources, and the tools it needs.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::SystemTime,
};

/// Set to `1` to skip the browser tests on a machine without Node.js or
/// Chromium. CI never sets it: there a missing tool fails the tests.
pub(crate) const SKIP_ENV: &str = "TRANSPORT_POLICIES_SKIP_BROWSER";
/// Debian's Chromium (`apt-get install chromium`).
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

/// The sources whose change makes `dist/` stale.
const SOURCES: [&str; 3] = ["main.js", "index.html", "package-lock.json"];

/// The browser peer's folder, once its bundle is built; `None` when the
/// tests are to be skipped. Panics, saying what is missing, when the page
/// cannot be built or Chromium is not installed.
pub(crate) fn ready() -> Option<PathBuf> {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("browser tests skipped: {SKIP_ENV}=1");
        return None;
    }
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match READY.get_or_init(prepare) {
        Ok(dir) => Some(dir.clone()),
        Err(e) => panic!("{e}\n(set {SKIP_ENV}=1 to skip the browser tests on this machine)"),
    }
}

fn prepare() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    if !Path::new(CHROMIUM).exists() {
        return Err(format!(
            "{CHROMIUM} is missing: install Debian's Chromium (`.ci/setup browser` installs it, with the page's npm packages)"
        ));
    }
    run(&dir, "node", &["--version"])
        .map_err(|e| format!("Node.js is needed to drive the browser: {e}"))?;
    if !dir.join("node_modules").is_dir() {
        run(
            &dir,
            "npm",
            &["ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        )?;
    }
    if stale(&dir) {
        run(&dir, "npm", &["run", "build"])?;
    }
    Ok(dir)
}

/// Whether `dist/` is missing or older than any of its sources.
fn stale(dir: &Path) -> bool {
    let modified = |p: PathBuf| p.metadata().and_then(|m| m.modified()).ok();
    let built = [dir.join("dist/main.js"), dir.join("dist/index.html")]
        .into_iter()
        .map(modified)
        .min()
        .flatten();
    let Some(built) = built else { return true };
    let newest: SystemTime = SOURCES
        .iter()
        .filter_map(|s| modified(dir.join(s)))
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    newest > built
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    let shown = format!("`{program} {}` in {}", args.join(" "), dir.display());
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{shown} could not start: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
