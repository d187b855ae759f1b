//! `best.safetensors` is loadable from PyTorch: the reference model of bench/reference/ reads the
//! weights grace saved and predicts what grace predicts on the same input.

use grace_nn::model::{DualTaskModel, ModelConfig};
use std::path::PathBuf;
use tch::{nn, Device, Kind, Tensor};

fn python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = std::env::var_os("GRACE_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
    let ok = std::process::Command::new(&p)
        .args(["-c", "import torch, safetensors, numpy"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then_some(p)
}

#[test]
fn saved_weights_load_in_pytorch_and_predict_the_same() {
    let Some(py) = python() else {
        eprintln!("skipped: no python with torch + safetensors (run scripts/setup-libtorch.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    tch::manual_seed(11);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = DualTaskModel::new(&vs.root(), &ModelConfig::small(17));
    // Non-trivial batch-norm statistics, so the test also proves they travel.
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if name.ends_with("running_mean") {
                t.copy_(&(Tensor::randn(t.size(), (Kind::Float, Device::Cpu)) * 0.1));
            }
        }
    });
    let weights = dir.path().join("best.safetensors");
    vs.save(&weights).unwrap();
    vs.freeze();
    let x = Tensor::randn([5, 30, 17], (Kind::Float, Device::Cpu));
    let input = dir.path().join("x.safetensors");
    Tensor::write_safetensors(&[("x", &x)], &input).unwrap();
    let ours = tch::no_grad(|| model.forward_t(&x, false));

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/reference/check_weights.py");
    let out = std::process::Command::new(py)
        .arg(script)
        .arg(&weights)
        .args(["--preset", "small", "--features", "17", "--threads", "1", "--json", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "check_weights failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let theirs: Vec<f64> = v["rul"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let ours_rul: Vec<f64> = Vec::try_from(&ours.rul.to_kind(Kind::Double)).unwrap();
    assert_eq!(theirs.len(), 5);
    for (a, b) in ours_rul.iter().zip(&theirs) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "RUL grace {a} vs PyTorch {b}");
    }
    let logits: Vec<f64> = v["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect();
    let ours_logits: Vec<f64> = Vec::try_from(&ours.logits.to_kind(Kind::Double).view([-1])).unwrap();
    for (a, b) in ours_logits.iter().zip(&logits) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "logit grace {a} vs PyTorch {b}");
    }
}
