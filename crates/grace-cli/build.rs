include!("../grace-nn/build_rpath.rs");

fn main() {
    link_libtorch();
    embed_recipes();
}

/// The committed recipes (`recipes/NAME.toml` at the repository root) become part of the binary, so
/// `grace train --recipe FD001` works on any machine, wherever the binary was copied to.
fn embed_recipes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), std::fs::canonicalize(&p).ok()?)))
        .collect();
    entries.sort();
    let mut code = String::from("/// Built-in recipes: (name, TOML text), from the repository's recipes/ folder.\n");
    code.push_str("pub const BUILT_IN: &[(&str, &str)] = &[\n");
    for (name, path) in &entries {
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!("    ({name:?}, include_str!({:?})),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("recipes.rs");
    std::fs::write(out, code).expect("writing recipes.rs");
}
