//! `weft info`: what weft sees on this machine.

use clap::Args;
use serde_json::{Value, json};
use weft::device::{AdapterSummary, Device, Feature, list_adapters};

use crate::Global;

#[derive(Args)]
pub struct InfoArgs {
    /// Skip the bandwidth and FMA measurements.
    #[arg(long)]
    no_figures: bool,
}

pub fn run(global: &Global, args: &InfoArgs) -> Result<(), Box<dyn std::error::Error>> {
    let options = global.device_options()?;
    let adapters = list_adapters(options.backend);
    let device = Device::new(options)?;
    let caps = device.caps();
    let figures = if args.no_figures {
        None
    } else {
        Some(weft::kernels::peak::measure(&device)?)
    };

    if global.json {
        let limits: serde_json::Map<String, Value> = caps
            .limits
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let out = json!({
            "adapter": caps.adapter.name,
            "backend": caps.adapter.backend,
            "device_type": caps.adapter.device_type,
            "driver": caps.adapter.driver,
            "driver_info": caps.adapter.driver_info,
            "features": caps.features.iter().map(|f| f.name()).collect::<Vec<_>>(),
            "adapter_features": caps.adapter_features.iter().map(|f| f.name()).collect::<Vec<_>>(),
            "subgroup_size": { "min": caps.subgroup_min_size, "max": caps.subgroup_max_size },
            "limits": limits,
            "figures": figures.map(|f| json!({
                "copy_bandwidth_gb_s": f.copy_gb_s,
                "fp32_fma_gflop_s": f.fma_gflop_s,
            })),
            "adapters": adapters.iter().map(adapter_json).collect::<Vec<_>>(),
        });
        println!("{out}");
        return Ok(());
    }

    println!("Adapters found ({}):", adapters.len());
    for a in &adapters {
        let mark = if *a == caps.adapter { "*" } else { " " };
        println!(
            "  {mark} {}  [{} {}]  driver: {} {}",
            a.name, a.backend, a.device_type, a.driver, a.driver_info
        );
    }
    println!();
    println!(
        "Using: {} ({}, {})",
        caps.adapter.name, caps.adapter.backend, caps.adapter.device_type
    );
    println!(
        "  driver: {} {}",
        caps.adapter.driver, caps.adapter.driver_info
    );
    println!("  features:");
    for f in Feature::ALL {
        let state = if caps.has(f) {
            "yes"
        } else if caps.adapter_features.contains(&f) {
            "off"
        } else {
            "no"
        };
        let extra = if f == Feature::Subgroups && caps.has(f) {
            format!(
                " (size {}..{})",
                caps.subgroup_min_size, caps.subgroup_max_size
            )
        } else {
            String::new()
        };
        println!("    {:<16} {state}{extra}", f.name());
    }
    println!("  limits:");
    for (name, value) in caps.limits.entries() {
        println!("    {name:<40} {value:>14}{}", human_bytes(name, value));
    }
    if let Some(f) = figures {
        println!("  measured:");
        println!(
            "    copy bandwidth (read + write)            {:>10.1} GB/s",
            f.copy_gb_s
        );
        println!(
            "    fp32 FMA throughput                      {:>10.1} GFLOP/s",
            f.fma_gflop_s
        );
    }
    Ok(())
}

fn adapter_json(a: &AdapterSummary) -> Value {
    json!({
        "name": a.name,
        "backend": a.backend,
        "device_type": a.device_type,
        "driver": a.driver,
        "driver_info": a.driver_info,
        "vendor": a.vendor,
        "device": a.device,
    })
}

fn human_bytes(name: &str, v: u64) -> String {
    if !name.ends_with("_size") || v < 1 << 20 {
        return String::new();
    }
    format!("  ({:.1} MiB)", v as f64 / (1 << 20) as f64)
}
