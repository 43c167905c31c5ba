//! `cargo xtask bench`: runs the bench binaries of `tests/` (pipeline,
//! tcp, micro, control, object_store, privatelink, dns), then renders the figures they recorded
//! (`target/bench/*.jsonl`, see tests/bench_report.rs) as one markdown table
//! and a PNG chart of the cost curves (gnuplot).
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The bench binaries, in the order they run.
pub const BENCHES: &[&str] = &["pipeline", "tcp", "micro", "control", "object_store", "privatelink", "dns"];

/// One recorded figure or curve point.
struct Row {
    group: String,
    name: String,
    unit: String,
    values: Vec<f64>,
    note: String,
    x: Option<f64>,
}

fn min_median_max(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let n = s.len();
    let med = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    (s[0], med, s[n - 1])
}

fn read_rows(file: &Path) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).with_context(|| format!("{}: {line}", file.display()))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let values = v["values"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
        rows.push(match v.get("curve") {
            Some(_) => Row { group: s("curve"), name: s("series"), unit: s("unit"), values, note: String::new(), x: v["x"].as_f64() },
            None => Row { group: s("group"), name: s("name"), unit: s("unit"), values, note: s("note"), x: None },
        });
    }
    Ok(rows)
}

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 0.1 || x == 0.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cpu}, {cores} cores, {mem_gib:.0} GiB")
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Renders every `*.jsonl` of `data_dir` into `<out_dir>/<stem>.md` and
/// `<out_dir>/<stem>.png`; returns the markdown path.
pub fn render(root: &Path, data_dir: &Path, out_dir: &Path, stem: &str, command: &str) -> Result<PathBuf> {
    let mut tables: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut curves: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for bench in BENCHES {
        let file = data_dir.join(format!("{bench}.jsonl"));
        if !file.exists() {
            continue;
        }
        for row in read_rows(&file)? {
            let key = format!("{bench}: {}", row.group);
            if row.x.is_some() {
                curves.entry(row.group.clone()).or_default().push(row);
            } else {
                tables.entry(key).or_default().push(row);
            }
        }
    }
    let mut md = String::new();
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let commit = command_output("git", &["-C", root.to_str().unwrap_or("."), "rev-parse", "--short", "HEAD"]);
    writeln!(md, "# Benchmark results\n")?;
    writeln!(md, "- command: `{command}`")?;
    writeln!(md, "- machine: {}", machine())?;
    writeln!(md, "- kernel: {}", command_output("uname", &["-sr"]))?;
    writeln!(md, "- rendered: {date}; commit {commit}")?;
    // When each part was measured (its data file written): a part run
    // again alone is newer than the rest.
    let measured: Vec<String> = BENCHES
        .iter()
        .map(|b| data_dir.join(format!("{b}.jsonl")))
        .filter(|f| f.exists())
        .map(|f| {
            let at = command_output("date", &["-u", "-r", f.to_str().unwrap_or_default(), "+%Y-%m-%d %H:%M UTC"]);
            format!("{} {at}", f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
        })
        .collect();
    writeln!(md, "- measured: {}", measured.join("; "))?;
    writeln!(md, "- each figure: min / median / max over the rounds (a ratio is taken within each round, then summarised)")?;
    writeln!(md, "- chart: [{stem}.png]({stem}.png)\n")?;
    // Ratios first: they are the claims.
    let mut keys: Vec<&String> = tables.keys().collect();
    keys.sort_by_key(|k| (!k.ends_with("ratios"), k.to_string()));
    for key in keys {
        writeln!(md, "## {key}\n")?;
        writeln!(md, "| figure | min | median | max | unit | rounds | note |\n|---|---:|---:|---:|---|---:|---|")?;
        for r in &tables[key] {
            let (a, b, c) = min_median_max(&r.values);
            writeln!(md, "| {} | {} | **{}** | {} | {} | {} | {} |", r.name, fmt(a), fmt(b), fmt(c), r.unit, r.values.len(), r.note)?;
        }
        writeln!(md)?;
    }
    for (curve, rows) in &curves {
        writeln!(md, "## curve: {curve}\n")?;
        writeln!(md, "| series | x | min | median | max | unit |\n|---|---:|---:|---:|---:|---|")?;
        for r in rows {
            let (a, b, c) = min_median_max(&r.values);
            writeln!(md, "| {} | {} | {} | **{}** | {} | {} |", r.name, r.x.unwrap_or(0.0), fmt(a), fmt(b), fmt(c), r.unit)?;
        }
        writeln!(md)?;
    }
    std::fs::create_dir_all(out_dir)?;
    let md_path = out_dir.join(format!("{stem}.md"));
    std::fs::write(&md_path, md)?;
    chart(&curves, data_dir, &out_dir.join(format!("{stem}.png")))?;
    Ok(md_path)
}

/// One panel per curve (log x, median with min-max bars), via gnuplot.
fn chart(curves: &BTreeMap<String, Vec<Row>>, data_dir: &Path, png: &Path) -> Result<()> {
    if curves.is_empty() {
        return Ok(());
    }
    let cols = 2;
    let rows = curves.len().div_ceil(cols);
    let mut script = format!(
        "set terminal pngcairo noenhanced size 1400,{} font 'sans,10'\nset output '{}'\nset multiplot layout {rows},{cols}\nset logscale x 10\nset key top left\nset grid\n",
        rows * 450,
        png.display()
    );
    for (k, (curve, points)) in curves.iter().enumerate() {
        let mut series: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for p in points {
            series.entry(p.name.as_str()).or_default().push(p);
        }
        let unit = points.first().map(|p| p.unit.as_str()).unwrap_or("");
        let xlabel = if curve.contains("rules") { "rules (entries per policy)" } else { "routes (prefixes)" };
        script += &format!("set title '{curve}'\nset xlabel '{xlabel}'\nset ylabel '{unit}'\nset yrange [0:*]\n");
        let mut plots = Vec::new();
        for (s, (name, pts)) in series.iter().enumerate() {
            let file = data_dir.join(format!("curve-{k}-{s}.dat"));
            let mut data = String::new();
            for p in pts {
                let (a, b, c) = min_median_max(&p.values);
                writeln!(data, "{} {b} {a} {c}", p.x.unwrap_or(0.0))?;
            }
            std::fs::write(&file, data)?;
            plots.push(format!("'{}' using 1:2:3:4 with yerrorlines lw 2 title '{}'", file.display(), name.replace('\'', "")));
        }
        script += &format!("plot {}\n", plots.join(", "));
    }
    script += "unset multiplot\n";
    let script_path = data_dir.join("chart.gp");
    std::fs::write(&script_path, script)?;
    let status = Command::new("gnuplot").arg(&script_path).status().context("running gnuplot")?;
    if !status.success() {
        bail!("gnuplot {} failed: {status}", script_path.display());
    }
    Ok(())
}
