// Shared by the build scripts of the crates that produce executables linked to libtorch.
// Executables must start without LD_LIBRARY_PATH, and still honour it when set (RUNPATH, not RPATH),
// so a binary built here runs on a GPU machine against that machine's copy of the same libtorch.
// libtorch_cuda is linked with --no-as-needed: nothing references it by symbol, yet it must load for
// CUDA to be usable.
fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        // Resolve links (the checkout's .venv points into a cache) so a copied binary still finds it.
        let lib = std::fs::canonicalize(&lib).map(|p| p.display().to_string()).unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags,-rpath,{lib}");
        if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
