//! `grace doctor`: shows which libtorch grace runs against and whether CUDA is usable.

#[derive(clap::Args)]
pub struct Args {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let smoke = grace_nn::libtorch_smoke();
    anyhow::ensure!(smoke == 14.0, "libtorch smoke test computed {smoke}, expected 14");
    let cuda = tch::Cuda::is_available();
    let devices = tch::Cuda::device_count();
    let threads = tch::get_num_threads();
    if a.json {
        println!(
            "{}",
            serde_json::json!({"libtorch_ok": true, "cuda_available": cuda, "cuda_devices": devices, "threads": threads})
        );
    } else {
        println!("libtorch: ok (1²+2²+3² = {smoke})");
        println!("cuda: {}", if cuda { format!("available, {devices} device(s)") } else { "not available".into() });
        println!("cpu threads: {threads}");
    }
    Ok(())
}
