//! The kernel-variant registry: every op with more than one kernel exposes one
//! [`Table`] of [`Variant`] rows, and everything that needs to know the
//! variants (the launchers' automatic choice, the tuner, `weft bench`, the
//! tests' sweeps, shader validation) reads that table.
//!
//! A row says what the variant is (name, the idea in one line, the WGSL files
//! it compiles, its override constants and tile), which problems it accepts
//! ([`Variant::supports`], with the reason when it refuses), which precisions
//! it has kernels for, how much scratch memory it takes, and how to launch it.
//! Adding a variant is one `.wgsl` file and one row: see docs/KERNELS.md.
//!
//! | op table | module |
//! |---|---|
//! | `gemm` | [`crate::gemm::TABLE`] |
//! | `conv2d` | [`crate::conv::forward::TABLE`] |
//! | `conv2d_backward_data` | [`crate::conv::backward::data::TABLE`] |
//! | `conv2d_backward_weight` | [`crate::conv::backward::weight::TABLE`] |
//! | `conv_transpose2d` | [`crate::conv::transpose::TABLE`] |
//! | `pool2d` | [`crate::pool::forward::TABLE`] |
//! | `max_pool2d_backward` | [`crate::pool::backward::TABLE`] |
//! | `batch_norm` | [`crate::batch_norm::TABLE`] |
//! | `batch_norm_backward` | [`crate::batch_norm::BACKWARD_TABLE`] |
//! | `correlate` | [`crate::filter::CORRELATE_TABLE`] |
//! | `rank_filter` | [`crate::filter::RANK_TABLE`] |

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use weft_device::{Caps, Device, Error, Feature, Result, Shader, TuneKey, TuneMode};

use crate::precision::{Precision, Typed};

/// Why a variant cannot run a problem: shown in errors when the variant was
/// asked for, by `weft bench`, and by the tests' sweeps as the reason a row
/// skipped a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl Unsupported {
    pub fn new(why: impl Into<String>) -> Unsupported {
        Unsupported(why.into())
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `Ok` when `holds`, otherwise the reason `why` gives.
pub fn require(holds: bool, why: impl FnOnce() -> String) -> Result<(), Unsupported> {
    if holds {
        Ok(())
    } else {
        Err(Unsupported(why()))
    }
}

/// A WGSL body a variant compiles.
#[derive(Clone, Copy)]
pub enum Source {
    /// Written against the storage alias `T`: compiled with the f32 and the
    /// native-f16 prelude.
    Typed(&'static Typed),
    /// One standalone form (packed f16, or precision-free helpers).
    Plain(&'static Shader),
}

impl Source {
    /// Every compiled form.
    pub fn forms(self) -> Vec<&'static Shader> {
        match self {
            Source::Typed(t) => vec![t.f32, t.f16],
            Source::Plain(s) => vec![s],
        }
    }

    /// The body's path under `shaders/`.
    pub fn path(self) -> &'static str {
        match self {
            Source::Typed(t) => t.f32.body.path,
            Source::Plain(s) => s.body.path,
        }
    }
}

/// How a variant maps work onto workgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tile {
    /// Each workgroup computes a fixed block of `rows × cols` outputs.
    Block { rows: usize, cols: usize },
    /// Chosen by the launch from the problem, as described.
    PerProblem(&'static str),
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tile::Block { rows, cols } => write!(f, "{rows}x{cols} per workgroup"),
            Tile::PerProblem(how) => f.write_str(how),
        }
    }
}

/// What an op's variants are asked to run: the shapes and parameters that
/// decide which variants apply, at a precision. The tensors travel separately
/// as [`Problem::Args`].
pub trait Problem: 'static {
    /// The tensors (and anything else) a launch needs besides the problem.
    type Args<'a>;
    /// The precision the problem runs at.
    fn precision(&self) -> Precision;
    /// The tuner's class of problems that behave alike.
    fn shape_class(&self) -> String;
    /// Whether there is nothing to compute (never timed by the tuner).
    fn is_empty(&self) -> bool {
        false
    }
}

/// Whether a variant can run a problem on a device with these capabilities.
pub type SupportsFn<P> = fn(&P, &Caps) -> Result<(), Unsupported>;
/// Bytes of temporary device memory a variant allocates for a problem (what
/// memory plans add to the op's outputs).
pub type ScratchFn<P> = fn(&P, &Device) -> u64;
/// Runs a variant: the row itself (its constants and tile), the problem, and
/// the tensors.
pub type LaunchFn<P> = for<'a> fn(&Variant<P>, &P, &<P as Problem>::Args<'a>) -> Result<()>;

/// One kernel variant of an op: a row of its [`Table`].
pub struct Variant<P: Problem> {
    /// Stable lowercase name (command lines, the tuner's records, reports).
    pub name: &'static str,
    /// The idea, in one line.
    pub idea: &'static str,
    /// What `supports` checks, in words (for listings).
    pub requires: &'static str,
    /// The WGSL bodies the variant compiles.
    pub shaders: &'static [Source],
    /// Override constants the row fixes (launches add problem-dependent ones).
    pub constants: &'static [(&'static str, f64)],
    pub tile: Tile,
    /// The precisions the variant has kernels for.
    pub precisions: &'static [Precision],
    /// The row's own constraints; [`Variant::check`] adds the precision's.
    pub supports: SupportsFn<P>,
    pub scratch: ScratchFn<P>,
    pub launch: LaunchFn<P>,
}

/// For rows that accept every problem their precisions cover.
pub fn any_problem<P>(_: &P, _: &Caps) -> Result<(), Unsupported> {
    Ok(())
}

/// For rows that allocate nothing.
pub fn no_scratch<P>(_: &P, _: &Device) -> u64 {
    0
}

/// The f32 and native-f16 precisions of a typed body.
pub const TYPED: &[Precision] = &[Precision::F32, Precision::F16];
/// Every precision: a typed body and a packed-f16 one.
pub const ALL_PRECISIONS: &[Precision] = &[Precision::F32, Precision::F16, Precision::F16Packed];

impl<P: Problem> Variant<P> {
    /// Whether this variant can run `p` on a device with `caps`: it has a
    /// kernel for the precision (native f16 also needs the adapter's
    /// shader-f16), and the problem meets its own constraints.
    pub fn check(&self, p: &P, caps: &Caps) -> Result<(), Unsupported> {
        let precision = p.precision();
        if !self.precisions.contains(&precision) {
            let has: Vec<&str> = self.precisions.iter().map(|p| p.name()).collect();
            return Err(Unsupported(format!(
                "has no {} kernel (it has {})",
                precision.name(),
                has.join(", ")
            )));
        }
        if precision == Precision::F16 && !caps.has(Feature::ShaderF16) {
            return Err(Unsupported(
                "native f16 needs the adapter's shader-f16 feature".into(),
            ));
        }
        (self.supports)(p, caps)
    }

    /// Launches this variant (which must accept `p`; see [`Table::run`] for
    /// the checked entry).
    pub fn launch(&self, p: &P, args: &P::Args<'_>) -> Result<()> {
        (self.launch)(self, p, args)
    }

    /// Scratch bytes this variant allocates for `p` (0 if it cannot run it).
    pub fn scratch_bytes(&self, p: &P, dev: &Device) -> u64 {
        if self.check(p, dev.caps()).is_err() {
            return 0;
        }
        (self.scratch)(p, dev)
    }

    /// The value of one of the row's override constants.
    pub fn constant(&self, name: &str) -> Option<f64> {
        self.constants
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
    }

    /// A description of the row, for listings.
    pub fn info(&self) -> VariantInfo {
        VariantInfo {
            name: self.name,
            idea: self.idea,
            requires: self.requires,
            shaders: self.shaders.iter().map(|s| s.path()).collect(),
            constants: self.constants.to_vec(),
            tile: self.tile,
            precisions: self.precisions.to_vec(),
        }
    }
}

impl<P: Problem> fmt::Debug for Variant<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Variant({})", self.name)
    }
}

/// Rows are identified by name (unique within a table).
impl<P: Problem> PartialEq for Variant<P> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl<P: Problem> Eq for Variant<P> {}

/// The row called `name`, found at compile time: a name that is not in
/// `variants` fails the build.
pub const fn named<P: Problem>(variants: &'static [Variant<P>], name: &str) -> &'static Variant<P> {
    let mut i = 0;
    while i < variants.len() {
        if str_eq(variants[i].name, name) {
            return &variants[i];
        }
        i += 1;
    }
    panic!("no variant of that name in the table");
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Every variant of one op, and its default choice.
pub struct Table<P: Problem> {
    /// The op's name: in errors, tuner keys, listings.
    pub op: &'static str,
    /// The rows, the baseline (the variant that accepts the most problems) first.
    pub variants: &'static [Variant<P>],
    /// The default choice when neither the caller nor the tuner names one. It
    /// returns a row that accepts the problem whenever any row does.
    pub auto: fn(&P, &Caps) -> &'static Variant<P>,
}

impl<P: Problem> Table<P> {
    /// The row called `name`.
    pub fn get(&self, name: &str) -> Option<&'static Variant<P>> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// Every row's name, in table order.
    pub fn names(&self) -> Vec<&'static str> {
        self.variants.iter().map(|v| v.name).collect()
    }

    /// The row called `name`, or an error naming the op and its variants.
    pub fn by_name(&self, name: &str) -> Result<&'static Variant<P>> {
        self.get(name).ok_or_else(|| {
            Error::invalid(
                self.op,
                "variant",
                format!(
                    "no variant named \"{name}\" (the variants are {})",
                    self.names().join(", ")
                ),
            )
        })
    }

    /// The rows that can run `p`, in table order.
    pub fn supporting(&self, p: &P, caps: &Caps) -> Vec<&'static Variant<P>> {
        self.variants
            .iter()
            .filter(|v| v.check(p, caps).is_ok())
            .collect()
    }

    /// The key under which a device disables `v` at `p`'s precision
    /// (`op/variant/precision`).
    pub fn disable_key(&self, v: &Variant<P>, p: &P) -> String {
        format!("{}/{}/{}", self.op, v.name, p.precision().name())
    }

    /// Whether `v` can run `p` on `dev` and has not been disabled there.
    fn usable(&self, dev: &Device, v: &Variant<P>, p: &P) -> bool {
        v.check(p, dev.caps()).is_ok()
            && !(dev.has_disabled_variants()
                && dev.variant_disabled(&self.disable_key(v, p)).is_some())
    }

    /// [`supporting`](Self::supporting) less the rows disabled on `dev`.
    pub fn usable_rows(&self, dev: &Device, p: &P) -> Vec<&'static Variant<P>> {
        self.variants
            .iter()
            .filter(|v| self.usable(dev, v, p))
            .collect()
    }

    /// The tuner's key for `p` on `dev`.
    pub fn tune_key(&self, dev: &Device, p: &P) -> TuneKey {
        TuneKey {
            adapter: dev.caps().adapter.key(),
            op: self.op.to_string(),
            class: p.shape_class(),
            precision: p.precision().name().to_string(),
        }
    }

    /// The tuner's recorded choice for `p`, if it names a row that can run it.
    fn recorded(&self, dev: &Device, p: &P) -> Option<&'static Variant<P>> {
        let tuner = dev.tuner();
        if tuner.mode() == TuneMode::Off {
            return None;
        }
        let name = tuner.lookup(&self.tune_key(dev, p))?;
        self.get(&name).filter(|v| self.usable(dev, v, p))
    }

    /// The variant [`run`](Self::run) uses when the caller names none and no
    /// timing is due: the tuner's recorded choice if it can run `p`, otherwise
    /// the table's `auto`; when that one is disabled on `dev`, the first row
    /// that can run `p` and is not.
    pub fn choose(&self, dev: &Device, p: &P) -> &'static Variant<P> {
        if let Some(v) = self.recorded(dev, p) {
            return v;
        }
        let auto = (self.auto)(p, dev.caps());
        if !dev.has_disabled_variants() || self.usable(dev, auto, p) {
            return auto;
        }
        self.variants
            .iter()
            .find(|v| self.usable(dev, v, p))
            .unwrap_or(auto)
    }

    /// The variant for `p`: `requested` if given (an error saying why when it
    /// cannot run `p`), otherwise [`choose`](Self::choose).
    pub fn resolve(
        &self,
        dev: &Device,
        p: &P,
        requested: Option<&'static Variant<P>>,
    ) -> Result<&'static Variant<P>> {
        match requested {
            Some(v) => {
                v.check(p, dev.caps()).map_err(|why| {
                    Error::invalid(
                        self.op,
                        "variant",
                        format!("{} cannot run this problem: {why}", v.name),
                    )
                })?;
                Ok(v)
            }
            None => Ok(self.choose(dev, p)),
        }
    }

    /// Runs `p`: with `requested` if given, otherwise with the recorded or
    /// default choice; in [`TuneMode::OnFirstUse`], a problem class with no
    /// recorded choice first times every row that can run it and records the
    /// fastest (the fastest runs last, so the outputs hold its result).
    ///
    /// A chosen variant whose shader does not compile on this device is
    /// disabled there (logged once, with the compiler's reason) and the next
    /// usable row runs instead; the error comes back only when no row is
    /// left, or when the caller asked for that variant by name. (Every row
    /// writes all of its outputs, so launches the failed row recorded before
    /// its failing shader are overwritten.)
    pub fn run(
        &self,
        dev: &Device,
        p: &P,
        requested: Option<&'static Variant<P>>,
        args: &P::Args<'_>,
    ) -> Result<()> {
        if requested.is_some() {
            return self.run_once(dev, p, requested, args);
        }
        loop {
            let chosen = self.choose(dev, p);
            match self.run_once(dev, p, None, args) {
                Err(Error::Shader(e)) => {
                    let reason = e.to_string();
                    dev.disable_variant(&self.disable_key(chosen, p), &reason);
                    if !self.usable_rows(dev, p).iter().any(|v| v != &chosen) {
                        return Err(Error::Shader(e));
                    }
                }
                other => return other,
            }
        }
    }

    fn run_once(
        &self,
        dev: &Device,
        p: &P,
        requested: Option<&'static Variant<P>>,
        args: &P::Args<'_>,
    ) -> Result<()> {
        if requested.is_none()
            && !p.is_empty()
            && dev.tuner().mode() == TuneMode::OnFirstUse
            && self.recorded(dev, p).is_none()
        {
            let candidates = self.usable_rows(dev, p);
            if candidates.len() > 1 {
                let best = fastest(
                    dev,
                    &candidates,
                    |v| v.launch(p, args),
                    |v, e| {
                        dev.disable_variant(&self.disable_key(v, p), &e.to_string());
                    },
                )?;
                dev.tuner().record(&self.tune_key(dev, p), best.name);
                return best.launch(p, args);
            }
        }
        self.resolve(dev, p, requested)?.launch(p, args)
    }

    /// Scratch bytes [`run`](Self::run) allocates for `p` with `requested` (or
    /// the choice it would make), for memory plans.
    pub fn scratch_bytes(
        &self,
        dev: &Device,
        p: &P,
        requested: Option<&'static Variant<P>>,
    ) -> u64 {
        let v = requested.unwrap_or_else(|| self.choose(dev, p));
        v.scratch_bytes(p, dev)
    }
}

/// Times each candidate (after a warm-up run that compiles its pipelines; best
/// of two) and returns the fastest.
/// A candidate whose shader does not compile is handed to `broken` and
/// skipped; that error comes back only if every candidate failed so.
fn fastest<V: Copy>(
    dev: &Device,
    candidates: &[V],
    mut run: impl FnMut(V) -> Result<()>,
    mut broken: impl FnMut(V, &Error),
) -> Result<V> {
    let mut best: Option<(Duration, V)> = None;
    let mut failure = None;
    for &v in candidates {
        match run(v) {
            Err(e @ Error::Shader(_)) => {
                broken(v, &e);
                failure = Some(e);
                continue;
            }
            other => other?,
        }
        let mut t = Duration::MAX;
        for _ in 0..2 {
            let ((), timing) = dev.time(|| run(v))?;
            t = t.min(timing.elapsed);
        }
        if best.is_none_or(|(b, _)| t < b) {
            best = Some((t, v));
        }
    }
    match (best, failure) {
        (Some((_, v)), _) => Ok(v),
        (None, Some(e)) => Err(e),
        (None, None) => Err(Error::invalid("tuner", "candidates", "no variant to time")),
    }
}

/// A row as listings show it.
#[derive(Debug, Clone)]
pub struct VariantInfo {
    pub name: &'static str,
    pub idea: &'static str,
    pub requires: &'static str,
    pub shaders: Vec<&'static str>,
    pub constants: Vec<(&'static str, f64)>,
    pub tile: Tile,
    pub precisions: Vec<Precision>,
}

/// An op's table as listings show it.
#[derive(Debug, Clone)]
pub struct OpInfo {
    pub op: &'static str,
    pub variants: Vec<VariantInfo>,
}

/// What the registry needs of a table whatever its problem type.
pub trait AnyTable: Sync {
    fn op(&self) -> &'static str;
    fn info(&self) -> OpInfo;
    fn shaders(&self) -> Vec<&'static Shader>;
    /// Disables on `dev` each row and precision whose shader is among
    /// `failed` (shader key → the compiler's reason); returns the keys
    /// disabled.
    fn retire(&self, dev: &Device, failed: &BTreeMap<String, String>) -> Vec<String>;
}

impl<P: Problem> AnyTable for Table<P> {
    fn op(&self) -> &'static str {
        self.op
    }

    fn info(&self) -> OpInfo {
        OpInfo {
            op: self.op,
            variants: self.variants.iter().map(Variant::info).collect(),
        }
    }

    fn shaders(&self) -> Vec<&'static Shader> {
        self.variants
            .iter()
            .flat_map(|v| v.shaders.iter().flat_map(|s| s.forms()))
            .collect()
    }

    fn retire(&self, dev: &Device, failed: &BTreeMap<String, String>) -> Vec<String> {
        let mut retired = Vec::new();
        for v in self.variants {
            for &precision in v.precisions {
                let reason = v.shaders.iter().find_map(|s| {
                    let shader = match *s {
                        Source::Typed(t) => t.get(precision)?,
                        Source::Plain(s) => s,
                    };
                    failed.get(&shader.key())
                });
                if let Some(reason) = reason {
                    let key = format!("{}/{}/{}", self.op, v.name, precision.name());
                    dev.disable_variant(&key, reason);
                    retired.push(key);
                }
            }
        }
        retired
    }
}

/// What [`compile_and_retire`] did.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Shaders that compiled.
    pub compiled: usize,
    /// Shaders that did not, with the compiler's reason (shader key, reason).
    pub failed: Vec<(String, String)>,
    /// Table rows disabled for it (`op/variant/precision`).
    pub retired: Vec<String>,
}

/// Compiles every shader the device's features allow, one at a time and
/// awaiting each (a browser reports a compiler error only after control
/// returns to the page, too late for the table's own fallback), then
/// disables every table row whose shader failed, with the compiler's
/// reason: those ops run their other rows, and an op with no row left
/// reports the error when used. Natively the fallback happens on first use
/// anyway; this finds every failure up front.
pub async fn compile_and_retire(dev: &Device) -> Prepared {
    let mut prepared = Prepared::default();
    let mut failed = BTreeMap::new();
    for shader in all_shaders() {
        if (shader.uses_native_f16() && !dev.has(Feature::ShaderF16))
            || (shader.uses_subgroups() && !dev.has(Feature::Subgroups))
        {
            continue;
        }
        let result = match dev.compile(shader) {
            Ok(()) => dev.sync_async().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => prepared.compiled += 1,
            Err(e) => {
                failed.insert(shader.key(), e.to_string());
            }
        }
    }
    for table in tables() {
        prepared.retired.extend(table.retire(dev, &failed));
    }
    prepared.failed = failed.into_iter().collect();
    prepared
}

/// Every op table.
pub fn tables() -> Vec<&'static dyn AnyTable> {
    vec![
        &crate::gemm::TABLE,
        &crate::conv::forward::TABLE,
        &crate::conv::backward::data::TABLE,
        &crate::conv::backward::weight::TABLE,
        &crate::conv::transpose::TABLE,
        &crate::pool::forward::TABLE,
        &crate::pool::backward::TABLE,
        &crate::batch_norm::TABLE,
        &crate::batch_norm::BACKWARD_TABLE,
        &crate::filter::CORRELATE_TABLE,
        &crate::filter::RANK_TABLE,
    ]
}

/// The table of `op`, if it has one.
pub fn table(op: &str) -> Option<&'static dyn AnyTable> {
    tables().into_iter().find(|t| t.op() == op)
}

/// Every op's rows, for `weft bench --list` and documentation.
pub fn ops() -> Vec<OpInfo> {
    tables().iter().map(|t| t.info()).collect()
}

/// Every shader weft compiles, each once: the tables' rows plus the helper
/// kernels and the ops with a single kernel, which their modules list.
pub fn all_shaders() -> Vec<&'static Shader> {
    let mut all: Vec<&'static Shader> = tables().iter().flat_map(|t| t.shaders()).collect();
    all.extend(crate::shaders::helpers());
    let mut seen = std::collections::HashSet::new();
    all.retain(|s| seen.insert(s.key()));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_well_formed() {
        let mut ops = std::collections::HashSet::new();
        for t in tables() {
            let info = t.info();
            assert!(ops.insert(info.op), "two tables named {}", info.op);
            assert!(!info.variants.is_empty(), "{} has no rows", info.op);
            let mut names = std::collections::HashSet::new();
            for v in &info.variants {
                assert!(
                    names.insert(v.name),
                    "{}: two rows named {}",
                    info.op,
                    v.name
                );
                assert!(
                    !v.precisions.is_empty(),
                    "{}/{}: no precisions",
                    info.op,
                    v.name
                );
                assert!(
                    v.name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{}/{}: names are lowercase identifiers",
                    info.op,
                    v.name
                );
                assert!(!v.idea.is_empty() && !v.requires.is_empty());
            }
        }
    }

    #[test]
    fn names_resolve_at_compile_time_and_by_lookup() {
        assert_eq!(crate::gemm::VEC4_8X8.name, "vec4_8x8");
        assert_eq!(
            crate::gemm::TABLE.get("vec4_8x8"),
            Some(crate::gemm::VEC4_8X8)
        );
        assert!(crate::gemm::TABLE.get("nope").is_none());
        let err = crate::gemm::TABLE.by_name("nope").unwrap_err().to_string();
        assert!(err.contains("naive") && err.contains("nope"), "{err}");
        let ops: Vec<_> = tables().iter().map(|t| t.op()).collect();
        assert!(table("conv2d").is_some(), "{ops:?}");
        assert!(table("nope").is_none());
    }
}
