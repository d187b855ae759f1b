//! The grid of a sweep: which (subset, method, seed) runs exist, in a fixed order, and where each
//! run directory lives, so `--plan`/`--index I` give the same item I on every machine.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MANIFEST_FILE: &str = "sweep.json";
pub const RUNS_DIR: &str = "runs";
/// The subset label used when the data are the synthetic fleet (its subset name means nothing).
pub const SYNTHETIC: &str = "SYNTHETIC";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub index: usize,
    pub subset: String,
    pub method: String,
    pub seed: u64,
    pub name: String,
}

pub fn run_name(subset: &str, method: &str, seed: u64) -> String {
    format!("{subset}_{method}_seed{seed}")
}

/// Subset-major, then method, then seed: the order of the flags, never re-sorted, so the
/// index of an item depends only on the command line.
pub fn plan(subsets: &[String], methods: &[String], seeds: &[u64]) -> Vec<PlanItem> {
    let mut items = Vec::with_capacity(subsets.len() * methods.len() * seeds.len());
    for s in subsets {
        for m in methods {
            for &seed in seeds {
                items.push(PlanItem {
                    index: items.len(),
                    subset: s.clone(),
                    method: m.clone(),
                    seed,
                    name: run_name(s, m, seed),
                });
            }
        }
    }
    items
}

pub fn run_dir(sweep_dir: &Path, item: &PlanItem) -> PathBuf {
    sweep_dir.join(RUNS_DIR).join(&item.name)
}

/// `--seeds 5` → 0..=4; `--seeds 10..15` → 10..=14; `--seeds 0,7,42` → exactly those.
pub fn parse_seeds(text: &str) -> anyhow::Result<Vec<u64>> {
    let t = text.trim();
    let bad = || format!("--seeds {t:?}: give a count (5), a range (10..15) or a list (0,7,42)");
    let seeds: Vec<u64> = if let Some((a, b)) = t.split_once("..") {
        let (a, b): (u64, u64) = (a.trim().parse().with_context(bad)?, b.trim().parse().with_context(bad)?);
        (a..b).collect()
    } else if t.contains(',') {
        t.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse::<u64>())
            .collect::<Result<_, _>>()
            .with_context(bad)?
    } else {
        (0..t.parse::<u64>().with_context(bad)?).collect()
    };
    if seeds.is_empty() {
        bail!("{}: no seeds", bad());
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(d) = seeds.iter().find(|s| !seen.insert(**s)) {
        bail!("--seeds {t:?}: seed {d} is listed twice");
    }
    Ok(seeds)
}

/// A named method with changed parameters, a row of its own in the tables: for example the
/// fixed floor-weight ablation `amnl_floor` = `amnl` with `method.fixed_weights=[0.0476,0.9524]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    /// The registry method it trains.
    pub method: String,
    /// `--set KEY=VALUE` pairs for its runs only.
    pub sets: Vec<String>,
}

impl Variant {
    /// `NAME=METHOD KEY=VALUE …` (whitespace-separated), as `grace sweep --variant` takes it.
    pub fn parse(text: &str) -> anyhow::Result<Variant> {
        let mut words = text.split_whitespace();
        let head = words.next().unwrap_or_default();
        let Some((name, method)) = head.split_once('=') else {
            bail!("--variant {text:?}: expected NAME=METHOD KEY=VALUE …, e.g. 'amnl_floor=amnl method.fixed_weights=[0.0476,0.9524]'");
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            bail!("--variant {text:?}: the name {name:?} must be letters, digits, _ or - (it names run directories)");
        }
        let sets: Vec<String> = words.map(String::from).collect();
        if let Some(bad) = sets.iter().find(|s| !s.contains('=')) {
            bail!("--variant {text:?}: {bad:?} is not KEY=VALUE");
        }
        if sets.iter().any(|s| s.trim_start().starts_with("method.name")) {
            bail!("--variant {text:?}: the method is the part after {name}=");
        }
        Ok(Variant { name: name.to_string(), method: method.to_string(), sets })
    }
}

/// What `grace sweep` records in the sweep directory: the grid and the settings every run shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub data: String,
    pub synthetic: bool,
    pub subsets: Vec<String>,
    /// Registry methods and variant names, in flag order.
    pub methods: Vec<String>,
    pub seeds: Vec<u64>,
    /// The `grace train` arguments common to all runs (data, config, --set, …).
    pub train_args: Vec<String>,
    /// Absent from sweeps made before variants existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
}

impl Manifest {
    pub fn read(sweep_dir: &Path) -> anyhow::Result<Option<Manifest>> {
        let p = sweep_dir.join(MANIFEST_FILE);
        if !p.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| format!("{}: not a grace sweep manifest", p.display()))?))
    }

    pub fn items(&self) -> Vec<PlanItem> {
        plan(&self.subsets, &self.methods, &self.seeds)
    }

    /// The plan's items by run-directory name: how a run is labelled (a variant under its own
    /// name, not its registry method's).
    pub fn items_by_name(&self) -> std::collections::HashMap<String, PlanItem> {
        self.items().into_iter().map(|it| (it.name.clone(), it)).collect()
    }

    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// Grows the grid of an existing sweep (more seeds, methods, subsets) but refuses to mix
    /// runs trained with different settings in one table.
    pub fn merge(old: &Manifest, new: &Manifest, sweep_dir: &Path) -> anyhow::Result<Manifest> {
        if old.train_args != new.train_args || old.synthetic != new.synthetic {
            bail!(
                "{} was started with other training settings ({:?}); this call has {:?}. Use another --out, or repeat the same --data/--config/--set",
                sweep_dir.join(MANIFEST_FILE).display(),
                old.train_args,
                new.train_args
            );
        }
        let union = |a: &[String], b: &[String]| {
            let mut v = a.to_vec();
            v.extend(b.iter().filter(|x| !a.contains(x)).cloned());
            v
        };
        let mut seeds = old.seeds.clone();
        seeds.extend(new.seeds.iter().filter(|s| !old.seeds.contains(s)));
        let mut variants = old.variants.clone();
        for v in &new.variants {
            match old.variant(&v.name) {
                Some(o) if o != v => bail!(
                    "{}: variant {} was {} {:?}; this call defines it as {} {:?}. Use another name",
                    sweep_dir.join(MANIFEST_FILE).display(),
                    v.name,
                    o.method,
                    o.sets,
                    v.method,
                    v.sets
                ),
                Some(_) => {}
                None => variants.push(v.clone()),
            }
        }
        Ok(Manifest {
            subsets: union(&old.subsets, &new.subsets),
            methods: union(&old.methods, &new.methods),
            seeds,
            variants,
            ..new.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_variant_is_a_named_method_with_its_own_settings_and_keeps_its_definition() {
        let v = Variant::parse("amnl_floor=amnl  method.fixed_weights=[0.0476,0.9524]").unwrap();
        assert_eq!((v.name.as_str(), v.method.as_str()), ("amnl_floor", "amnl"));
        assert_eq!(v.sets, ["method.fixed_weights=[0.0476,0.9524]"]);
        assert!(Variant::parse("amnl").unwrap_err().to_string().contains("NAME=METHOD"));
        assert!(Variant::parse("a/b=amnl").unwrap_err().to_string().contains("run directories"));
        assert!(Variant::parse("x=amnl lr").unwrap_err().to_string().contains("not KEY=VALUE"));
        let m = |variants: Vec<Variant>| Manifest {
            data: "d".into(),
            synthetic: true,
            subsets: s(&["SYNTHETIC"]),
            methods: s(&["amnl", "amnl_floor"]),
            seeds: vec![0],
            train_args: vec![],
            variants,
        };
        let dir = Path::new("/sweep");
        let merged = Manifest::merge(&m(vec![v.clone()]), &m(vec![]), dir).unwrap();
        assert_eq!(merged.variant("amnl_floor"), Some(&v), "a later call need not repeat it");
        let other = Variant::parse("amnl_floor=amnl method.fixed_weights=[0.5,0.5]").unwrap();
        let e = Manifest::merge(&m(vec![v]), &m(vec![other]), dir).unwrap_err().to_string();
        assert!(e.contains("variant amnl_floor"), "{e}");
        let old: Manifest = serde_json::from_str(
            r#"{"data":"d","synthetic":true,"subsets":[],"methods":[],"seeds":[],"train_args":[]}"#,
        )
        .unwrap();
        assert!(old.variants.is_empty());
    }

    #[test]
    fn plan_is_the_full_grid_in_flag_order() {
        let p = plan(&s(&["FD002", "FD001"]), &s(&["grace", "baseline", "gaba"]), &[3, 1]);
        assert_eq!(p.len(), 2 * 3 * 2);
        assert_eq!(p[0].name, "FD002_grace_seed3");
        assert_eq!(p[1].name, "FD002_grace_seed1");
        assert_eq!(p[2].name, "FD002_baseline_seed3");
        assert_eq!(p[11].name, "FD001_gaba_seed1");
        assert!(p.iter().enumerate().all(|(i, it)| it.index == i));
        let names: std::collections::HashSet<_> = p.iter().map(|i| &i.name).collect();
        assert_eq!(names.len(), 12);
    }

    #[test]
    fn seeds_parse_as_count_range_or_list() {
        assert_eq!(parse_seeds("3").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_seeds("10..13").unwrap(), vec![10, 11, 12]);
        assert_eq!(parse_seeds("0, 7,42").unwrap(), vec![0, 7, 42]);
        assert_eq!(parse_seeds("7,").unwrap(), vec![7]);
        assert!(parse_seeds("0").is_err());
        assert!(parse_seeds("1,1").is_err());
        assert!(parse_seeds("x").unwrap_err().to_string().contains("count"));
    }

    #[test]
    fn merge_grows_the_grid_but_not_across_settings() {
        let a = Manifest {
            data: "synthetic".into(),
            synthetic: true,
            subsets: s(&["SYNTHETIC"]),
            methods: s(&["grace"]),
            seeds: vec![0, 1],
            train_args: s(&["--epochs", "2"]),
            variants: vec![],
        };
        let b = Manifest { methods: s(&["baseline", "grace"]), seeds: vec![1, 2], ..a.clone() };
        let m = Manifest::merge(&a, &b, Path::new("x")).unwrap();
        assert_eq!(m.methods, s(&["grace", "baseline"]));
        assert_eq!(m.seeds, vec![0, 1, 2]);
        let c = Manifest { train_args: s(&["--epochs", "3"]), ..a.clone() };
        assert!(Manifest::merge(&a, &c, Path::new("x")).unwrap_err().to_string().contains("another --out"));
    }
}
