//! Recipes: tuned training settings per subset, committed in `recipes/` and built into the binary,
//! applied by `--recipe NAME` (or a file) beneath the config file, the flags and `--set`.

use anyhow::{bail, Context};
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/recipes.rs"));

/// Keys a recipe may not hold: the method is chosen at `grace train`, and the data path belongs to
/// the machine (docs/tune.md).
const NOT_IN_A_RECIPE: [(&str, &str); 2] = [("data", "source"), ("method", "name")];

/// A recipe's settings as a TOML table, and where it came from.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The built-in name, or the file as given.
    pub name: String,
    pub table: toml::Table,
}

impl Recipe {
    /// `arg` names a built-in recipe (`FD001`, case-insensitive) or a TOML file.
    pub fn load(arg: &str) -> anyhow::Result<Recipe> {
        let (name, text) = match BUILT_IN.iter().find(|(n, _)| n.eq_ignore_ascii_case(arg)) {
            Some((n, text)) => (n.to_string(), text.to_string()),
            None if Path::new(arg).is_file() => {
                (arg.to_string(), std::fs::read_to_string(arg).with_context(|| format!("reading --recipe {arg}"))?)
            }
            None => bail!("--recipe {arg}: no such built-in recipe ({}) and no such file", names()),
        };
        let table: toml::Table = text.parse().with_context(|| format!("--recipe {name}: not valid TOML"))?;
        for (section, key) in NOT_IN_A_RECIPE {
            if table.get(section).and_then(|s| s.get(key)).is_some() {
                bail!("--recipe {name}: holds {section}.{key}; a recipe leaves the data path and the method to the command line");
            }
        }
        Ok(Recipe { name, table })
    }

    /// The recipe under a config file's text: the file's values win.
    pub fn beneath(&self, config_text: Option<&str>) -> anyhow::Result<String> {
        let mut merged = self.table.clone();
        if let Some(text) = config_text {
            let file: toml::Table = text.parse().context("--config: not valid TOML")?;
            grace_nn::config::merge(&mut merged, file);
        }
        Ok(toml::to_string(&merged)?)
    }

    /// The config text `--recipe arg` puts beneath `config_text` (the file's values win): the
    /// recipe's settings, with the subset a built-in recipe was tuned for as the default subset.
    pub fn config_text(arg: &str, config_text: Option<&str>) -> anyhow::Result<String> {
        let mut recipe = Recipe::load(arg)?;
        if let Some(subset) = recipe.subset().map(String::from) {
            let data = recipe.table.entry("data").or_insert_with(|| toml::Value::Table(Default::default()));
            if let Some(d) = data.as_table_mut() {
                d.insert("subset".into(), toml::Value::String(subset));
            }
        }
        recipe.beneath(config_text)
    }

    /// The subset a built-in recipe was tuned for, when its name is one (FD001…FD004).
    pub fn subset(&self) -> Option<&str> {
        let n = self.name.as_str();
        (n.len() == 5 && n.starts_with("FD") && BUILT_IN.iter().any(|(b, _)| *b == n)).then_some(n)
    }
}

/// The built-in recipe names, for messages.
pub fn names() -> String {
    if BUILT_IN.is_empty() {
        return "none built in".into();
    }
    BUILT_IN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// The comment lines at the top of a recipe: how it was found.
pub fn header(text: &str) -> Vec<String> {
    text.lines().take_while(|l| l.starts_with('#')).map(|l| l.trim_start_matches('#').trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_recipe_resolves_and_leaves_method_and_data_to_the_command_line() {
        for (name, text) in BUILT_IN {
            let r = Recipe::load(name).unwrap();
            let merged = r.beneath(None).unwrap();
            let cfg = grace_nn::config::RunConfig::resolve("small", Some(&merged), &[]).unwrap();
            assert_eq!(cfg.data.source, grace_nn::config::RunConfig::resolve("small", None, &[]).unwrap().data.source);
            assert!(!header(text).is_empty(), "{name}: a recipe says how it was found");
            assert_eq!(r.subset(), Some(*name));
        }
    }

    #[test]
    fn a_recipe_file_sits_beneath_the_config_file_and_may_not_hold_the_method() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.toml");
        std::fs::write(&p, "# tuned\n[train]\nlr = 0.002\nweight_decay = 0.01\n[data.prep]\nwindow = 40\n").unwrap();
        let r = Recipe::load(p.to_str().unwrap()).unwrap();
        assert_eq!(r.subset(), None);
        let merged = r.beneath(Some("[train]\nlr = 0.0005\n")).unwrap();
        let cfg = grace_nn::config::RunConfig::resolve("small", Some(&merged), &[]).unwrap();
        assert_eq!((cfg.train.lr, cfg.train.weight_decay, cfg.data.prep.window), (0.0005, 0.01, 40));
        std::fs::write(&p, "[method]\nname = \"grace\"\n").unwrap();
        let e = Recipe::load(p.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.contains("holds method.name"), "{e}");
        let e = Recipe::load("FD009").unwrap_err().to_string();
        assert!(e.contains("no such built-in recipe"), "{e}");
        assert_eq!(header("# a\n#  b\n[train]\n# c\n"), ["a", "b"]);
    }
}
