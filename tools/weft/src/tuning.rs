//! The command line's tuner: measured variant choices kept in a JSON file,
//! per adapter, so that `weft bench --save-tuning` and first-use timing
//! (`WEFT_TUNE=on`) benefit every later run on the same machine.
//!
//! | variable | meaning |
//! |---|---|
//! | `WEFT_TUNE` | `off`: fixed defaults only, the file is not read; `cache` (default): recorded choices where they exist; `on`: as `cache`, and the first use of an unrecorded problem class times every variant and records the fastest |
//! | `WEFT_TUNE_CACHE` | the file (default: `weft/tune.json` in the user's cache directory) |
//!
//! The file is `{"<adapter key>": {"<op> | <class> | <precision>": "<variant>"}}`.
//! A file that cannot be read or parsed is ignored with a warning, never fatal;
//! writes go through a temporary file and a rename, so a crash leaves the old
//! file or the new one.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use weft::device::{TuneKey, TuneMode, TuneRecords, Tuner};

/// A [`Tuner`] backed by a JSON file.
#[derive(Debug)]
pub struct FileTuner {
    mode: TuneMode,
    path: Option<PathBuf>,
    entries: Mutex<TuneRecords>,
}

/// `WEFT_TUNE`, or the default mode.
pub fn mode_from_env() -> TuneMode {
    match std::env::var("WEFT_TUNE").as_deref().map(str::trim) {
        Ok("off") | Ok("0") => TuneMode::Off,
        Ok("on") | Ok("1") => TuneMode::OnFirstUse,
        _ => TuneMode::Cache,
    }
}

/// `WEFT_TUNE_CACHE`, else `tune.json` in weft's folder of the user's cache.
pub fn path_from_env() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WEFT_TUNE_CACHE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    dirs::cache_dir().map(|d| d.join("weft").join("tune.json"))
}

impl FileTuner {
    /// The tuner the environment describes; a warning on stderr if its file
    /// exists but cannot be used.
    pub fn from_env() -> FileTuner {
        let mode = mode_from_env();
        let path = path_from_env();
        let (tuner, warning) = FileTuner::open(mode, path);
        if let Some(w) = warning {
            eprintln!("warning: {w}");
        }
        tuner
    }

    /// A tuner on `path` (none: in memory only); with the reason, when an
    /// existing file had to be ignored. In [`TuneMode::Off`] the file is not
    /// read.
    pub fn open(mode: TuneMode, path: Option<PathBuf>) -> (FileTuner, Option<String>) {
        let mut warning = None;
        let mut entries = TuneRecords::default();
        if mode != TuneMode::Off
            && let Some(p) = &path
            && p.exists()
        {
            match read(p) {
                Ok(e) => entries = e,
                Err(why) => {
                    warning = Some(format!("ignoring the tuning cache {}: {why}", p.display()))
                }
            }
        }
        let tuner = FileTuner {
            mode,
            path,
            entries: Mutex::new(entries),
        };
        (tuner, warning)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, TuneRecords> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn read(path: &Path) -> Result<TuneRecords, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    TuneRecords::parse(&text)
}

/// Writes through a temporary file and a rename; failures are reported, not fatal.
fn write(path: &Path, entries: &TuneRecords) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, entries.to_json()).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        e.to_string()
    })
}

impl Tuner for FileTuner {
    fn mode(&self) -> TuneMode {
        self.mode
    }

    fn lookup(&self, key: &TuneKey) -> Option<String> {
        if self.mode == TuneMode::Off {
            return None;
        }
        self.entries().lookup(key).map(str::to_string)
    }

    fn record(&self, key: &TuneKey, variant: &str) {
        let mut entries = self.entries();
        entries.record(key, variant);
        if let Some(path) = &self.path
            && let Err(why) = write(path, &entries)
        {
            eprintln!(
                "warning: could not write the tuning cache {}: {why}",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(class: &str) -> TuneKey {
        TuneKey {
            adapter: "llvmpipe | vulkan | \"x\"".into(),
            op: "gemm".into(),
            class: class.into(),
            precision: "f32".into(),
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("weft-tuning-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub").join("tune.json")
    }

    #[test]
    fn choices_persist_across_tuners() {
        let path = temp("persist");
        let (t, warning) = FileTuner::open(TuneMode::Cache, Some(path.clone()));
        assert!(warning.is_none());
        assert_eq!(t.lookup(&key("m7")), None);
        t.record(&key("m7"), "vec4_16x16");
        let (again, warning) = FileTuner::open(TuneMode::Cache, Some(path.clone()));
        assert!(warning.is_none());
        assert_eq!(again.lookup(&key("m7")).as_deref(), Some("vec4_16x16"));
        assert_eq!(again.lookup(&key("m8")), None);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("gemm | m7 | f32"), "{text}");
        // Off: the file is not read, and nothing is looked up.
        let (off, _) = FileTuner::open(TuneMode::Off, Some(path.clone()));
        assert_eq!(off.lookup(&key("m7")), None);
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn unusable_files_are_ignored_with_a_warning() {
        let path = temp("garbage");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        for bad in [
            "",
            "{",
            "[1]",
            "{\"a\": 3}",
            "{\"a\": {\"b\": 1}}",
            "{} trailing",
        ] {
            std::fs::write(&path, bad).unwrap();
            let (t, warning) = FileTuner::open(TuneMode::Cache, Some(path.clone()));
            let w = warning.unwrap_or_else(|| panic!("{bad:?} was accepted"));
            assert!(w.contains("ignoring the tuning cache"), "{w}");
            assert_eq!(t.lookup(&key("m7")), None);
            // Recording still works, and replaces the unusable file.
            t.record(&key("m7"), "tiled");
            let (t2, warning) = FileTuner::open(TuneMode::Cache, Some(path.clone()));
            assert!(warning.is_none());
            assert_eq!(t2.lookup(&key("m7")).as_deref(), Some("tiled"));
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }
}
