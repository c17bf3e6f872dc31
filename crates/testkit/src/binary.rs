//! Finding (or building) one of the testkit's own binaries, for a process
//! that runs it as a child.

use std::{
    io,
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// The binary `name`: `$env` if set; else the one beside the running
/// executable (cargo puts test binaries in `target/<profile>/deps`) if it is
/// newer than the testkit's sources; else, under cargo, built once for this
/// process (`built` remembers it) with the running executable's profile,
/// since cargo builds no other package's binary for a test, a bench or
/// `cargo run -p`.
pub(crate) fn find(
    name: &str,
    env: &str,
    built: &'static OnceLock<Result<PathBuf, String>>,
) -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    if let Some(found) = beside(&exe, name).filter(|b| is_fresh(b)) {
        return Ok(found);
    }
    match std::env::var_os("CARGO") {
        Some(cargo) => built
            .get_or_init(|| build(&cargo, &exe, name, env))
            .clone()
            .map_err(io::Error::other),
        None => beside(&exe, name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{name} not beside {}; build it (cargo build --release -p testkit \
                     --bin {name}) or set {env}",
                    exe.display()
                ),
            )
        }),
    }
}

/// Whether `binary` was built after the last change to the testkit's sources.
fn is_fresh(binary: &Path) -> bool {
    fn newest(path: &Path) -> Option<std::time::SystemTime> {
        let meta = path.metadata().ok()?;
        if !meta.is_dir() {
            return meta.modified().ok();
        }
        std::fs::read_dir(path)
            .ok()?
            .filter_map(|entry| newest(&entry.ok()?.path()))
            .max()
    }
    let sources = Path::new(env!("CARGO_MANIFEST_DIR"));
    let changed = [sources.join("src"), sources.join("Cargo.toml")]
        .iter()
        .filter_map(|p| newest(p))
        .max();
    match (binary.metadata().and_then(|m| m.modified()), changed) {
        (Ok(built), Some(changed)) => built >= changed,
        // Sources not on this machine (an installed binary): trust what is there.
        (Ok(_), None) => true,
        (Err(_), _) => false,
    }
}

fn beside(exe: &Path, name: &str) -> Option<PathBuf> {
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn build(cargo: &std::ffi::OsStr, exe: &Path, name: &str, env: &str) -> Result<PathBuf, String> {
    let release = exe.components().any(|c| c.as_os_str() == "release");
    let mut command = std::process::Command::new(cargo);
    command.args(["build", "--quiet", "-p", "testkit", "--bin", name]);
    if release {
        command.arg("--release");
    }
    let status = command
        .status()
        .map_err(|e| format!("running cargo to build {name}: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of {name} failed: {status}"));
    }
    beside(exe, name).ok_or(format!(
        "{name} not found beside {} after building it; set {env}",
        exe.display()
    ))
}
