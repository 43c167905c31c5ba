//! Figures the benchmarks record for `cargo xtask bench` to render.
//!
//! Each bench binary appends one JSON object per figure to
//! `$VPC_BENCH_DIR/<bench>.jsonl` (default `target/bench`); xtask turns them
//! into the markdown table in `bench/results/` and the chart. A figure holds
//! every round's value, so the table can show min/median/max.
use std::{io::Write, path::PathBuf};

use serde_json::json;

/// The file a bench binary writes its figures to (truncated on open).
pub struct Report {
    path: PathBuf,
}

/// Minimum, median and maximum of `v` (NaN if empty).
pub fn min_median_max(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    (s[0], median, s[n - 1])
}

/// Median of `v`.
pub fn median(v: &[f64]) -> f64 {
    min_median_max(v).1
}

impl Report {
    /// Starts the figures of bench `name`.
    pub fn new(name: &str) -> Self {
        let dir = std::env::var_os("VPC_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench")
        });
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.jsonl"));
        std::fs::write(&path, b"").unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        Report { path }
    }

    fn append(&self, v: serde_json::Value) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.path.display()));
        writeln!(f, "{v}").unwrap_or_else(|e| panic!("writing {}: {e}", self.path.display()));
    }

    /// A figure of table `group`: one value per round. `note` marks it
    /// (e.g. "loss: 12 frames").
    pub fn figure(&self, group: &str, name: &str, unit: &str, values: &[f64], note: &str) {
        let (min, med, max) = min_median_max(values);
        println!("{group:<12} {name:<52} {min:>10.2} {med:>10.2} {max:>10.2} {unit} {note}");
        self.append(json!({"group": group, "name": name, "unit": unit, "values": values, "note": note}));
    }

    /// A point of cost curve `curve` (x: routes or rules), series `series`.
    pub fn point(&self, curve: &str, series: &str, x: f64, unit: &str, values: &[f64]) {
        let (min, med, max) = min_median_max(values);
        println!("{curve:<12} {series:<40} x={x:<10} {min:>10.1} {med:>10.1} {max:>10.1} {unit}");
        self.append(json!({"curve": curve, "series": series, "x": x, "unit": unit, "values": values}));
    }
}
