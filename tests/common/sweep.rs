//! The generic sweep every op's table goes through: each row that has a
//! kernel for the precision runs the op's random problems it accepts (up to a
//! cap), each compared with the CPU reference by the test's `run`; problems a
//! row refuses are counted as skipped with the row's reason. The sweep fails
//! when a comparison fails, and when a row ran fewer problems than the minimum
//! (a row no problem exercises is a row nothing tests).

use std::collections::BTreeMap;
use std::fmt::Debug;

use weft::device::Feature;
use weft::kernels::Precision;
use weft::kernels::registry::{Problem, Table, Variant};

/// How many problems each row runs.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// A row stops after this many problems.
    pub cap: usize,
    /// A row that ran fewer fails the sweep.
    pub min: usize,
}

impl Counts {
    /// At least 100 problems per row, at most `cap`.
    pub const fn at_least_100(cap: usize) -> Counts {
        Counts { cap, min: 100 }
    }
}

/// What a row did in a sweep.
#[derive(Debug, Default)]
pub struct RowReport {
    pub ran: usize,
    pub skipped: usize,
    /// Worst |gpu − ref| reported by `run`, in units of ε·scale.
    pub worst: f64,
}

/// Runs every row of `table` that has a `precision` kernel over `cases` (in
/// order, up to `counts.cap` each): `problem` gives the op's problem of a case
/// (for the rows' `check`), `run` runs the row on the case and compares it
/// with the reference, returning the worst |gpu − ref| in units of ε·scale
/// ([`weft::kernels::testing::Report::max_err_eps`]) or a description of the
/// mismatch. Native f16 on an adapter without it is skipped with a message.
pub fn sweep<P: Problem, C: Debug>(
    table: &Table<P>,
    precision: Precision,
    cases: &[C],
    counts: Counts,
    problem: impl Fn(&C) -> P,
    mut run: impl FnMut(&'static Variant<P>, usize, &C) -> Result<f64, String>,
) -> BTreeMap<&'static str, RowReport> {
    let dev = super::device();
    let mut reports = BTreeMap::new();
    if precision == Precision::F16 && !dev.has(Feature::ShaderF16) {
        eprintln!(
            "{}: adapter has no shader-f16; native f16 not swept",
            table.op
        );
        return reports;
    }
    let mut short = Vec::new();
    for row in table
        .variants
        .iter()
        .filter(|v| v.precisions.contains(&precision))
    {
        let mut report = RowReport::default();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for (i, case) in cases.iter().enumerate() {
            if report.ran >= counts.cap {
                break;
            }
            if let Err(why) = row.check(&problem(case), dev.caps()) {
                report.skipped += 1;
                // Reasons that differ only in their numbers count as one.
                let kind: String = why
                    .0
                    .chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c })
                    .collect();
                *reasons.entry(kind).or_default() += 1;
                continue;
            }
            match run(row, i, case) {
                Ok(e) => report.worst = report.worst.max(e),
                Err(msg) => panic!(
                    "{}/{} {} case {i} {case:?}:\n{msg}",
                    table.op,
                    row.name,
                    precision.name()
                ),
            }
            report.ran += 1;
        }
        let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
        let why = reasons
            .first()
            .map(|(r, n)| {
                format!(
                    " ({n}: {r}{})",
                    if reasons.len() > 1 { "; ..." } else { "" }
                )
            })
            .unwrap_or_default();
        eprintln!(
            "{}/{} {}: {} problems, worst {:.2} eps*scale; {} skipped{why}",
            table.op,
            row.name,
            precision.name(),
            report.ran,
            report.worst,
            report.skipped
        );
        if report.ran < counts.min {
            short.push(format!(
                "{} ran {} (< {})",
                row.name, report.ran, counts.min
            ));
        }
        reports.insert(row.name, report);
    }
    assert!(
        short.is_empty(),
        "{} {}: rows the problems do not exercise enough: {}; add problems they accept",
        table.op,
        precision.name(),
        short.join(", ")
    );
    reports
}
