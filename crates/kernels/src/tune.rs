//! The tuner: which kernel variant is fastest for an (adapter, op, shape class).
//!
//! Choices persist in a JSON cache file keyed by adapter, backend and driver
//! (`$WEFT_TUNE_CACHE`, default `~/.cache/weft/tune.json`). `WEFT_TUNE` picks
//! the mode:
//!
//! | `WEFT_TUNE` | behaviour |
//! |---|---|
//! | unset or `cache` | use cached choices where they exist, fixed defaults otherwise |
//! | `on` | as `cache`, and at the first use of an uncached (op, shape class) time every correct variant and keep the fastest |
//! | `off` | fixed defaults only; the cache is not read |
//!
//! `weft bench --save-tuning` writes its winners into the cache. A corrupt cache
//! file is ignored with a warning, never fatal; an entry naming a variant that no
//! longer exists or cannot run the problem falls back to the default.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use weft_device::{Device, Result};

use crate::Precision;

/// How the tuner behaves (from `WEFT_TUNE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Cache,
    On,
}

impl Mode {
    pub fn from_env() -> Mode {
        match std::env::var("WEFT_TUNE").as_deref().map(str::trim) {
            Ok("off") | Ok("0") => Mode::Off,
            Ok("on") | Ok("1") => Mode::On,
            _ => Mode::Cache,
        }
    }
}

/// The cache: adapter key → (op key → variant name).
#[derive(Debug, Default)]
struct Cache {
    path: Option<PathBuf>,
    entries: BTreeMap<String, BTreeMap<String, String>>,
    loaded: bool,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Cache::default()))
}

/// Where the cache file lives.
pub fn cache_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WEFT_TUNE_CACHE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("weft").join("tune.json"))
}

impl Cache {
    fn ensure_loaded(&mut self) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        self.path = cache_path();
        let Some(path) = &self.path else { return };
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        match parse(&text) {
            Some(entries) => self.entries = entries,
            None => eprintln!(
                "warning: ignoring the tuning cache {}: it is not valid JSON of the expected form",
                path.display()
            ),
        }
    }

    fn save(&self) {
        let Some(path) = &self.path else { return };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        if std::fs::write(&tmp, render(&self.entries)).is_ok()
            && std::fs::rename(&tmp, path).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// Parses `{"adapter": {"op|class": "variant", ...}, ...}` (a small JSON subset:
/// objects of objects of strings).
fn parse(text: &str) -> Option<BTreeMap<String, BTreeMap<String, String>>> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let mut out = BTreeMap::new();
    p.expect(b'{')?;
    if p.peek()? == b'}' {
        p.i += 1;
        return p.end().then_some(out);
    }
    loop {
        let adapter = p.string()?;
        p.expect(b':')?;
        p.expect(b'{')?;
        let mut inner = BTreeMap::new();
        if p.peek()? == b'}' {
            p.i += 1;
        } else {
            loop {
                let k = p.string()?;
                p.expect(b':')?;
                let v = p.string()?;
                inner.insert(k, v);
                match p.next()? {
                    b',' => continue,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        out.insert(adapter, inner);
        match p.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    p.end().then_some(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip();
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    out.push(match e {
                        b'"' | b'\\' | b'/' => e,
                        b'n' => b'\n',
                        b't' => b'\t',
                        _ => return None,
                    });
                }
                _ => out.push(c),
            }
        }
    }

    fn end(&mut self) -> bool {
        self.skip();
        self.i == self.s.len()
    }
}

fn render(entries: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::from("{\n");
    for (n, (adapter, map)) in entries.iter().enumerate() {
        out.push_str(&format!("  \"{}\": {{\n", esc(adapter)));
        for (m, (k, v)) in map.iter().enumerate() {
            let comma = if m + 1 < map.len() { "," } else { "" };
            out.push_str(&format!("    \"{}\": \"{}\"{comma}\n", esc(k), esc(v)));
        }
        let comma = if n + 1 < entries.len() { "," } else { "" };
        out.push_str(&format!("  }}{comma}\n"));
    }
    out.push_str("}\n");
    out
}

/// The cache key of a device: adapter name, backend and driver version.
pub fn adapter_key(dev: &Device) -> String {
    let a = &dev.caps().adapter;
    format!(
        "{} | {} | {} {}",
        a.name, a.backend, a.driver, a.driver_info
    )
}

/// The key of an op on a shape class at a precision.
pub fn op_key(op: &str, class: &str, precision: Precision) -> String {
    format!("{op} | {class} | {}", precision.name())
}

/// log2 bucket of a size, for shape classes.
pub fn bucket(v: usize) -> u32 {
    usize::BITS - v.max(1).leading_zeros()
}

/// The cached choice for `op` on `class`, unless tuning is off.
pub fn cached(dev: &Device, op: &str, class: &str, precision: Precision) -> Option<String> {
    if Mode::from_env() == Mode::Off {
        return None;
    }
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    c.ensure_loaded();
    c.entries
        .get(&adapter_key(dev))
        .and_then(|m| m.get(&op_key(op, class, precision)))
        .cloned()
}

/// Records a choice in the cache and writes the file.
pub fn record(dev: &Device, op: &str, class: &str, precision: Precision, variant: &str) {
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    c.ensure_loaded();
    c.entries
        .entry(adapter_key(dev))
        .or_default()
        .insert(op_key(op, class, precision), variant.to_string());
    c.save();
}

/// First-use tuning (`WEFT_TUNE=on`): times `run(candidate)` for every candidate
/// (best of two runs after a warm-up), records and returns the fastest. `run`
/// must leave the op's result in its output whichever candidate it runs; the
/// winner is run last so the output is its result.
pub fn tune<V: Copy>(
    dev: &Device,
    op: &str,
    class: &str,
    precision: Precision,
    candidates: &[(V, &str)],
    mut run: impl FnMut(V) -> Result<()>,
) -> Result<Option<V>> {
    if Mode::from_env() != Mode::On || candidates.len() < 2 {
        return Ok(None);
    }
    let mut best: Option<(Duration, usize)> = None;
    for (i, &(v, _)) in candidates.iter().enumerate() {
        run(v)?; // warm-up: compiles the pipeline
        let mut t = Duration::MAX;
        for _ in 0..2 {
            let ((), timing) = dev.time(|| run(v))?;
            t = t.min(timing.elapsed);
        }
        if best.is_none_or(|(b, _)| t < b) {
            best = Some((t, i));
        }
    }
    let (_, i) = best.expect("at least two candidates");
    let (v, name) = candidates[i];
    record(dev, op, class, precision, name);
    run(v)?;
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_files_round_trip_and_reject_garbage() {
        let mut m = BTreeMap::new();
        m.entry("llvmpipe | vulkan | \"x\"".to_string())
            .or_insert_with(BTreeMap::new)
            .insert(
                "gemm | m7 n7 k7 | f32".to_string(),
                "vec4_16x16".to_string(),
            );
        let text = render(&m);
        assert_eq!(parse(&text), Some(m));
        assert_eq!(parse("{}"), Some(BTreeMap::new()));
        for bad in [
            "",
            "{",
            "[1]",
            "{\"a\": 3}",
            "{\"a\": {\"b\": \"c\"}} trailing",
            "{\"a\": {\"b\" \"c\"}}",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn buckets_are_log2() {
        assert_eq!(
            (bucket(0), bucket(1), bucket(2), bucket(3), bucket(1024)),
            (1, 1, 2, 2, 11)
        );
    }
}
