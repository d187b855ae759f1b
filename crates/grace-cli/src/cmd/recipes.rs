//! `grace recipes`: the tuned recipes built into this binary, each with how it was found, and
//! `grace recipes NAME` for one recipe's settings as `grace train --recipe NAME` applies them.

use crate::recipe::{header, Recipe, BUILT_IN};

#[derive(clap::Args)]
pub struct Args {
    /// Show this recipe's settings (TOML) instead of the list.
    name: Option<String>,
    /// Print JSON: the list (name, header lines, settings) or the one recipe.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(name) = &a.name {
        let r = Recipe::load(name)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "name": r.name, "settings": r.table }))?);
        } else {
            print!("{}", toml::to_string_pretty(&r.table)?);
        }
        return Ok(());
    }
    let list: Vec<serde_json::Value> = BUILT_IN
        .iter()
        .map(|(name, text)| {
            let settings: toml::Table = text.parse().unwrap_or_default();
            serde_json::json!({ "name": name, "about": header(text), "settings": settings })
        })
        .collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if BUILT_IN.is_empty() {
        println!("no recipes built in (recipes/*.toml in the source tree)");
    }
    for (name, text) in BUILT_IN {
        println!("{name}");
        for line in header(text) {
            println!("    {line}");
        }
    }
    Ok(())
}
