//! Reporting benchmark results: a live line per measurement on stderr, a
//! ranked table, one JSON object, CSV, and an SVG chart per op.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;
use weft::Device;
use weft::kernels::peak::Peak;

use super::{BenchArgs, Measurement};
use crate::Global;

/// Throughput and memory of a whole network.
#[derive(Debug, Clone)]
pub struct NetworkFigure {
    pub name: String,
    pub batch: usize,
    pub images_per_s: f64,
    /// The pool's measured peak over the timed calls, and the memory plan's.
    pub peak_bytes: u64,
    pub planned_peak_bytes: u64,
    pub seconds_per_batch: f64,
    /// Achieved GFLOP/s: the graph's forward FLOPs per image (3x for a
    /// training step) times images per second.
    pub gflop_s: f64,
}

fn unit(m: &Measurement) -> &'static str {
    if m.work.memory_bound {
        "GB/s"
    } else {
        "GFLOP/s"
    }
}

fn fraction(m: &Measurement, peak: Peak) -> Option<f64> {
    let r = m.rate()?;
    Some(if m.work.memory_bound {
        r / peak.copy_gb_s
    } else {
        r / peak.fma_gflop_s
    })
}

/// One line per measurement as it completes.
pub fn progress(m: &Measurement, peak: Peak) {
    match (&m.error, m.stats) {
        (Some(e), _) => eprintln!(
            "  {:<22} {:<26} {:<10} {:<18} WRONG: {e}",
            m.op, m.shape, m.precision, m.variant
        ),
        (None, Some(s)) => eprintln!(
            "  {:<22} {:<26} {:<10} {:<18} {:>10.3} ms {:>9.2} {:<8} {:>5.1}% of peak{}",
            m.op,
            m.shape,
            m.precision,
            m.variant,
            1e3 * s.median,
            m.rate().unwrap_or(0.0),
            unit(m),
            100.0 * fraction(m, peak).unwrap_or(0.0),
            m.mpx_s()
                .map(|r| format!(" {r:>8.1} Mpx/s"))
                .unwrap_or_default()
        ),
        (None, None) => {}
    }
}

type Key = (String, String, String);

/// Measurements of one (op, shape, precision).
type Group<'a> = (Key, Vec<&'a Measurement>);

/// Groups measurements by (op, shape, precision), in first-seen order.
fn groups(results: &[Measurement]) -> Vec<Group<'_>> {
    let mut order: Vec<Key> = Vec::new();
    let mut map: BTreeMap<Key, Vec<&Measurement>> = BTreeMap::new();
    for m in results {
        let k = (m.op.clone(), m.shape.clone(), m.precision.clone());
        if !map.contains_key(&k) {
            order.push(k.clone());
        }
        map.entry(k).or_default().push(m);
    }
    order
        .into_iter()
        .map(|k| {
            let v = map.remove(&k).unwrap_or_default();
            (k, v)
        })
        .collect()
}

/// `weft bench --list`: every op table's rows with their constraints.
pub fn list(global: &Global) -> Result<(), Box<dyn std::error::Error>> {
    let ops = weft::kernels::registry::ops();
    if global.json {
        let doc = json!({
            "command": "bench --list",
            "ops": ops.iter().map(|op| json!({
                "op": op.op,
                "variants": op.variants.iter().map(|v| json!({
                    "name": v.name,
                    "idea": v.idea,
                    "requires": v.requires,
                    "precisions": v.precisions.iter().map(|p| p.name()).collect::<Vec<_>>(),
                    "shaders": v.shaders,
                    "constants": v.constants.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                    "tile": v.tile.to_string(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{doc}");
        return Ok(());
    }
    for op in &ops {
        println!("{} ({} variants)", op.op, op.variants.len());
        for v in &op.variants {
            let precisions: Vec<&str> = v.precisions.iter().map(|p| p.name()).collect();
            println!("  {:<18} [{}]", v.name, precisions.join(", "));
            println!("      {}", v.idea);
            println!("      requires: {}", v.requires);
            println!("      tile: {}", v.tile);
            if !v.constants.is_empty() {
                let c: Vec<String> = v
                    .constants
                    .iter()
                    .map(|(k, x)| format!("{k}={x}"))
                    .collect();
                println!("      constants: {}", c.join(" "));
            }
            if !v.shaders.is_empty() {
                println!("      shaders: {}", v.shaders.join(", "));
            }
        }
        println!();
    }
    Ok(())
}

/// The fastest correct variant of a group.
fn winner<'a>(ms: &[&'a Measurement]) -> Option<&'a Measurement> {
    ms.iter().copied().filter(|m| m.correct()).min_by(|a, b| {
        a.stats
            .expect("timed")
            .median
            .total_cmp(&b.stats.expect("timed").median)
    })
}

pub fn emit(
    global: &Global,
    args: &BenchArgs,
    device: &Device,
    peak: Peak,
    results: &[Measurement],
    networks: &[NetworkFigure],
    image: &[super::image::ImageFigure],
) -> Result<(), Box<dyn std::error::Error>> {
    let caps = device.caps();
    let grouped = groups(results);
    let mut rows = Vec::new();
    let mut winners = Vec::new();
    for ((op, shape, precision), ms) in &grouped {
        let baseline = ms.first().and_then(|m| m.stats).map(|s| s.median);
        let best = winner(ms);
        if let Some(w) = best {
            winners.push(
                json!({"op": op, "shape": shape, "precision": precision, "variant": w.variant,
                "median_s": w.stats.map(|s| s.median), "rate": w.rate(), "unit": unit(w)}),
            );
        }
        for m in ms {
            let s = m.stats;
            rows.push(json!({
                "op": m.op, "suite": m.suite, "shape": m.shape, "precision": m.precision, "variant": m.variant,
                "correct": m.correct(), "error": m.error, "max_err_eps": m.max_err_eps,
                "median_s": s.map(|s| s.median), "min_s": s.map(|s| s.min), "max_s": s.map(|s| s.max),
                "runs": s.map(|s| s.runs),
                "gflop_s": if m.work.memory_bound { None } else { m.rate() },
                "gb_s": if m.work.memory_bound { m.rate() } else { None },
                "mpx_s": m.mpx_s(),
                "fraction_of_peak": fraction(m, peak),
                "speedup_vs_baseline": match (baseline, s) { (Some(b), Some(s)) => Some(b / s.median), _ => None },
                "winner": best.is_some_and(|w| std::ptr::eq(w, *m)),
                "chosen": m.chosen,
            }));
        }
    }
    let doc = json!({
        "command": "bench",
        "adapter": caps.adapter.name,
        "backend": caps.adapter.backend,
        "driver": caps.adapter.driver,
        "driver_info": caps.adapter.driver_info,
        "clock": format!("{:?}", device.clock()),
        "peak": {"copy_bandwidth_gb_s": peak.copy_gb_s, "fp32_fma_gflop_s": peak.fma_gflop_s},
        "results": rows,
        "winners": winners,
        "networks": networks.iter().map(|n| json!({
            "name": n.name, "batch": n.batch, "images_per_s": n.images_per_s,
            "seconds_per_batch": n.seconds_per_batch, "peak_bytes": n.peak_bytes,
            "planned_peak_bytes": n.planned_peak_bytes,
            "gflop_s": n.gflop_s,
        })).collect::<Vec<_>>(),
        "image": image.iter().map(|f| json!({
            "name": f.name, "megapixels": f.megapixels, "seconds": f.seconds,
            "megapixels_per_s": f.mpx_s(),
        })).collect::<Vec<_>>(),
    });
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| weft::Error::io(dir, e))?;
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_string_pretty(&doc)?,
        )
        .map_err(|e| weft::Error::io(dir.join("results.json"), e))?;
        std::fs::write(dir.join("results.csv"), csv(&doc))
            .map_err(|e| weft::Error::io(dir.join("results.csv"), e))?;
        let mut ops: Vec<&str> = results.iter().map(|m| m.op.as_str()).collect();
        ops.dedup();
        for op in ops {
            let path = dir.join(format!("{op}.svg"));
            std::fs::write(&path, chart(op, &grouped)).map_err(|e| weft::Error::io(&path, e))?;
        }
        eprintln!("wrote {}", dir.display());
    }
    if global.json {
        println!("{doc}");
        return Ok(());
    }
    println!(
        "device: {} ({}), copy {:.1} GB/s, fp32 FMA {:.1} GFLOP/s",
        caps.adapter.name, caps.adapter.backend, peak.copy_gb_s, peak.fma_gflop_s
    );
    println!("(* fastest here, > the variant the op picks by itself)");
    for ((op, shape, precision), ms) in &grouped {
        println!("\n{op} {shape} {precision}");
        println!(
            "   {:<18} {:>10} {:>10} {:>10} {:>12} {:>7} {:>9}  check",
            "variant", "median ms", "min ms", "max ms", "rate", "%peak", "speed-up"
        );
        let baseline = ms.first().and_then(|m| m.stats).map(|s| s.median);
        let best = winner(ms);
        for m in ms {
            // `*`: the fastest; `>`: what the op runs by itself.
            let mark = match (best.is_some_and(|w| std::ptr::eq(w, *m)), m.chosen) {
                (true, true) => "*>",
                (true, false) => "* ",
                (false, true) => " >",
                (false, false) => "  ",
            };
            match m.stats {
                Some(s) if m.error.is_none() => println!(
                    "{mark} {:<18} {:>10.3} {:>10.3} {:>10.3} {:>7.2} {:<4} {:>6.1}% {:>8.2}x  ok ({:.2} eps)",
                    m.variant,
                    1e3 * s.median,
                    1e3 * s.min,
                    1e3 * s.max,
                    m.rate().unwrap_or(0.0),
                    if m.work.memory_bound { "GB/s" } else { "GF/s" },
                    100.0 * fraction(m, peak).unwrap_or(0.0),
                    baseline.map_or(0.0, |b| b / s.median),
                    m.max_err_eps
                ),
                _ => println!(
                    "{mark} {:<18} {:>10} {:>10} {:>10} {:>12} {:>7} {:>9}  WRONG: {}",
                    m.variant,
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    m.error.as_deref().unwrap_or("not run")
                ),
            }
        }
    }
    if !image.is_empty() {
        println!("\nimage tools");
        for f in image {
            println!(
                "  {:<44} {:>8.1} Mpx/s {:>9.2} ms",
                f.name,
                f.mpx_s(),
                1e3 * f.seconds
            );
        }
    }
    if !networks.is_empty() {
        println!("\nnetworks");
        for n in networks {
            println!(
                "  {:<32} batch {:>4}  {:>10.1} img/s  {:>9.2} ms/batch  {:>6.2} GFLOP/s  peak {} \
                 (planned {})",
                n.name,
                n.batch,
                n.images_per_s,
                1e3 * n.seconds_per_batch,
                n.gflop_s,
                weft::graph::memory::human(n.peak_bytes),
                weft::graph::memory::human(n.planned_peak_bytes)
            );
        }
    }
    Ok(())
}

fn csv(doc: &serde_json::Value) -> String {
    let cols = [
        "op",
        "suite",
        "shape",
        "precision",
        "variant",
        "correct",
        "median_s",
        "min_s",
        "max_s",
        "gflop_s",
        "gb_s",
        "fraction_of_peak",
        "speedup_vs_baseline",
        "winner",
        "max_err_eps",
        "error",
    ];
    let mut s = cols.join(",");
    s.push('\n');
    for row in doc["results"].as_array().into_iter().flatten() {
        let fields: Vec<String> = cols
            .iter()
            .map(|c| match &row[*c] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(v) => format!("\"{}\"", v.replace('"', "'")),
                v => v.to_string(),
            })
            .collect();
        s.push_str(&fields.join(","));
        s.push('\n');
    }
    s
}

/// A grouped bar chart: one group per (shape, precision), one bar per variant,
/// bar height = rate; the winner outlined.
fn chart(op: &str, grouped: &[Group<'_>]) -> String {
    let groups: Vec<&Group<'_>> = grouped.iter().filter(|((o, _, _), _)| o == op).collect();
    let mut variants: Vec<String> = Vec::new();
    for (_, ms) in &groups {
        for m in ms {
            if !variants.contains(&m.variant) {
                variants.push(m.variant.clone());
            }
        }
    }
    let max_rate = groups
        .iter()
        .flat_map(|(_, ms)| ms.iter().filter_map(|m| m.rate()))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let unit = groups
        .first()
        .and_then(|(_, ms)| ms.first())
        .map_or("GFLOP/s", |m| unit(m));
    let bar = 14.0;
    let group_w = bar * variants.len() as f64 + 20.0;
    let (left, top, ph) = (70.0, 50.0, 300.0);
    let w = left + group_w * groups.len() as f64 + 180.0;
    let h = top + ph + 130.0;
    let palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf",
    ];
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="25" font-size="15">weft bench: {op} ({unit}; higher is better; outlined = fastest)</text>"#
    );
    for k in 0..=5 {
        let y = top + ph * (1.0 - k as f64 / 5.0);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/>"##,
            w - 180.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{:.1}</text>"#,
            left - 5.0,
            y + 4.0,
            max_rate * k as f64 / 5.0
        );
    }
    for (g, ((_, shape, precision), ms)) in groups.iter().enumerate() {
        let x0 = left + g as f64 * group_w + 10.0;
        let best = winner(ms);
        for m in ms {
            let vi = variants.iter().position(|v| v == &m.variant).unwrap_or(0);
            let x = x0 + vi as f64 * bar;
            let r = m.rate().filter(|_| m.correct()).unwrap_or(0.0);
            let bh = ph * r / max_rate;
            let stroke = if best.is_some_and(|b| std::ptr::eq(b, *m)) {
                r#" stroke="black" stroke-width="2""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<rect x="{x}" y="{}" width="{}" height="{bh}" fill="{}"{stroke}><title>{} {}: {r:.2} {unit}</title></rect>"#,
                top + ph - bh,
                bar - 2.0,
                palette[vi % palette.len()],
                m.variant,
                shape
            );
        }
        let _ = writeln!(
            s,
            r#"<text transform="translate({},{}) rotate(45)">{shape} {precision}</text>"#,
            x0,
            top + ph + 12.0
        );
    }
    for (i, v) in variants.iter().enumerate() {
        let y = top + 16.0 * i as f64;
        let x = w - 170.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{y}" width="10" height="10" fill="{}"/>"#,
            palette[i % palette.len()]
        );
        let _ = writeln!(s, r#"<text x="{}" y="{}">{v}</text>"#, x + 15.0, y + 9.0);
    }
    s.push_str("</svg>\n");
    s
}
