//! Every method of the registry (docs/reference.md §4.3) trained end to end on the synthetic fleet:
//! finite, decreasing losses, one gradient-log schema, exact resume, and a clean stop on divergence.

use grace_nn::config::RunConfig;
use grace_nn::train::{self, Options};
use std::path::Path;

// libtorch's default generator is process-wide, so the tests that train take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tiny(method: &str, extra: &[&str]) -> RunConfig {
    let mut sets: Vec<String> = vec![
        format!("method.name=\"{method}\""),
        "train.epochs=100".into(),
        "train.max_steps=50".into(),
        "train.batch_size=64".into(),
        "train.threads=1".into(),
        "train.device=\"cpu\"".into(),
        "train.warmup_epochs=0".into(),
        "train.grad_log_every=1".into(),
        "data.synthetic.n_train=10".into(),
        "data.synthetic.n_test=4".into(),
        "data.synthetic.max_life=200".into(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    RunConfig::resolve("small", None, &sets).unwrap()
}

/// Rows of the gradient log as numbers (empty cells → NaN).
fn log_rows(run: &Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(run.join("gradient_log.csv")).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("epoch,step,loss_rul,loss_health,g_rul,g_health,ratio,cosine,raw_rul"), "{header}");
    text.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap_or(f64::NAN)).collect()).collect()
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

/// The tiny model of the smoke tests: every width of the small preset cut down, so that all the
/// methods of the registry train 50 steps each in a few seconds.
const TINY_MODEL: [&str; 4] =
    ["model.conv_channels=[8, 16, 8]", "model.lstm_hidden=16", "model.attn_heads=2", "model.funnel=[32]"];

/// The RUL loss must fall at least by this factor from the mean of the first 10 steps to that of
/// the last 10. Measured on this fleet: 0.53–0.72 across the registry (FAMO, MGDA, IMTL-G and
/// Aligned-MTL slowest); a method that does not train stays near 1 (± batch noise of ~10%).
const RUL_LOSS_FALL: f64 = 0.85;

#[test]
fn every_method_of_the_registry_trains_50_steps_with_finite_decreasing_losses() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    for m in grace_core::methods::METHODS {
        let method = m.name;
        let run = dir.path().join(method);
        let res =
            train::run(Some(tiny(method, &TINY_MODEL)), &run, false, Options { quiet: true, ..Default::default() })
                .unwrap_or_else(|e| panic!("{method}: {e:#}"));
        assert_eq!(res.steps, 50, "{method}");
        assert!(res.test.capped.rmse.is_finite(), "{method}");
        let rows = log_rows(&run);
        assert_eq!(rows.len(), 50, "{method}: one gradient-log row per step");
        for r in &rows {
            assert!(r[2].is_finite() && r[3].is_finite(), "{method}: losses {r:?}");
            assert!(r[14].is_finite() && r[14] >= 0.0 && r[15].is_finite() && r[15] >= 0.0, "{method}: λ {r:?}");
            // grad_log_every = 1: every method logs both norms and the cosine like GABA
            assert!(r[4] > 0.0 && r[5] > 0.0 && r[7].abs() <= 1.0, "{method}: norms {r:?}");
            assert_eq!(r[18], 0.0, "{method}: no step skipped");
        }
        let first = mean(rows[..10].iter().map(|r| r[2]));
        let last = mean(rows[40..].iter().map(|r| r[2]));
        eprintln!("{method:<12} RUL loss {first:9.1} → {last:9.1} ({:.2})", last / first);
        assert!(last < RUL_LOSS_FALL * first, "{method}: RUL loss {first} → {last}");
        method_specific(method, &rows);
    }
    eprintln!("all {} methods: {:.1}s", grace_core::methods::METHODS.len(), t0.elapsed().as_secs_f64());
}

/// What each learned or random weighting must show in its logged weights (columns 14, 15 = λ;
/// 8, 9 = raw).
fn method_specific(method: &str, rows: &[Vec<f64>]) {
    let sums_to = |k: f64| rows.iter().all(|r| (r[14] + r[15] - k).abs() < 1e-9);
    match method {
        // ½e^{−s} from s = 0: starts at 0.5 each, and the large RUL loss pushes s_rul up
        "uncertainty" => {
            assert_eq!((rows[0][14], rows[0][15]), (0.5, 0.5));
            assert!(rows[49][14] < 0.5, "λ_rul {}", rows[49][14]);
        }
        // uniform K·(1/K) = 1 while fewer than two epochs have ended, then moved, summing to K
        "dwa" => {
            assert!(rows.iter().filter(|r| r[0] < 2.0).all(|r| (r[14], r[15]) == (1.0, 1.0)));
            assert!(rows.last().unwrap()[0] >= 2.0, "50 steps of 64 span ≥ 3 epochs of this fleet");
            let after: Vec<&Vec<f64>> = rows.iter().filter(|r| r[0] >= 2.0).collect();
            assert!((after[0][14] + after[0][15] - 2.0).abs() < 1e-12);
            assert_ne!(after[0][14], 1.0, "DWA moved the weights after two epochs");
        }
        // weights start at 1 and sum to K = 2; the dominant RUL gradient pushes λ_rul down
        "gradnorm" => {
            assert_eq!((rows[0][14], rows[0][15]), (1.0, 1.0));
            assert!(sums_to(2.0));
            assert!(rows[49][14] < 1.0, "λ_rul {}", rows[49][14]);
        }
        // λ = softmax of the step's draws from (rlw_seed = 0, step): exactly those of grace-core
        "rlw" => {
            for r in rows {
                let w = grace_core::controller::rlw::weights(0, r[1] as u64, 2);
                assert_eq!((r[14], r[15]), (w[0], w[1]), "step {}", r[1]);
            }
            assert!(rows.iter().any(|r| (r[14] - rows[0][14]).abs() > 0.05), "the weights change");
        }
        // w = (z_i/L_i)/Σ(z_j/L_j), z = softmax(ξ) logged as raw: z = ½ at the start, so
        // w_rul = L_health/(L_rul + L_health); ξ moves after every step
        "famo" => {
            assert!(sums_to(1.0));
            assert_eq!((rows[0][8], rows[0][9]), (0.5, 0.5));
            let (lr, lh) = (rows[0][2], rows[0][3]);
            assert!((rows[0][14] - lh / (lr + lh)).abs() < 1e-6, "{:?}", rows[0]);
            assert!(rows[49][8] != 0.5, "the logits moved: z = {}", rows[49][8]);
        }
        // α = max‖m‖/‖m_i‖: the task with the larger memory gets 1, the other more
        "dbmtl" => {
            for r in rows {
                let (lo, hi) = (r[14].min(r[15]), r[14].max(r[15]));
                assert!((lo - 1.0).abs() < 1e-6 && hi >= 1.0, "{r:?}");
            }
        }
        _ => {}
    }
}

#[test]
fn learned_and_random_weights_resume_exactly() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let quiet = Options { quiet: true, ..Default::default() };
    let stop = Options { quiet: true, stop_after_epochs: Some(1), ..Default::default() };
    let cfg = |method: &str| {
        let mut sets = TINY_MODEL.to_vec();
        sets.extend(["train.max_steps=0", "train.epochs=2", "train.batch_size=128"]);
        tiny(method, &sets)
    };
    for method in ["dbmtl", "famo", "rlw"] {
        let (a, b) = (dir.path().join(format!("{method}-straight")), dir.path().join(format!("{method}-stopped")));
        let full = train::run(Some(cfg(method)), &a, false, quiet).unwrap();
        assert!(train::run(Some(cfg(method)), &b, false, stop).is_err(), "a stopped run is not finished");
        if method == "dbmtl" {
            // the checkpoint holds the K × P memories, moved away from 0
            let ck = grace_nn::checkpoint::load(&b.join("checkpoint.safetensors")).unwrap();
            let m = &ck.tensors[grace_nn::memory::CHECKPOINT_KEY];
            assert_eq!(m.size()[0], 2);
            assert!(m.abs().sum(tch::Kind::Double).double_value(&[]) > 0.0);
        }
        let resumed = train::run(None, &b, true, quiet).unwrap();
        assert_eq!(resumed.steps, full.steps, "{method}");
        assert_eq!(serde_json::to_value(&resumed.test).unwrap(), serde_json::to_value(&full.test).unwrap());
        let read = |p: &Path| std::fs::read(p).unwrap();
        assert_eq!(read(&a.join("best.safetensors")), read(&b.join("best.safetensors")), "{method}");
        assert_eq!(read(&a.join("gradient_log.csv")), read(&b.join("gradient_log.csv")), "{method}");
    }
}

#[test]
fn gradnorm_divergence_stops_cleanly_and_keeps_the_checkpoint() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("gradnorm");
    let quiet = Options { quiet: true, ..Default::default() };
    let stop = Options { quiet: true, stop_after_epochs: Some(1), ..Default::default() };
    assert!(train::run(Some(tiny("gradnorm", &[])), &run, false, stop).is_err(), "stopped after 1 epoch");
    let good = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    // Resume with an absurd learning rate and no clipping: the weights blow up within a few steps.
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let cfg = cfg.replace("lr = 0.001\n", "lr = 1e30\n").replace("clip_norm = 1.0\n", "clip_norm = 0.0\n");
    assert!(cfg.contains("lr = 1e30"), "{cfg}");
    std::fs::write(run.join("config.toml"), cfg).unwrap();
    let err = format!("{:#}", train::run(None, &run, true, quiet).unwrap_err());
    eprintln!("divergence message: {err}");
    assert!(err.contains("non-finite") || err.contains("GradNorm"), "the message says what diverged: {err}");
    assert!(err.contains("checkpoint") || err.contains("stops"), "{err}");
    assert_eq!(std::fs::read(run.join("checkpoint.safetensors")).unwrap(), good, "the last good checkpoint is kept");
}
