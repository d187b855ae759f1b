//! The comparison methods of SPEC §4.3 (uncertainty, DWA, GradNorm) trained end to end on the
//! synthetic fleet: finite, decreasing losses, one gradient-log schema, and a clean stop on divergence.

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

#[test]
fn each_method_trains_50_steps_with_finite_decreasing_losses() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    for method in ["uncertainty", "dwa", "gradnorm"] {
        let run = dir.path().join(method);
        let res = train::run(Some(tiny(method, &[])), &run, false, Options { quiet: true, ..Default::default() })
            .unwrap_or_else(|e| panic!("{method}: {e:#}"));
        assert_eq!(res.steps, 50, "{method}");
        assert!(res.test.capped.rmse.is_finite(), "{method}");
        let rows = log_rows(&run);
        assert_eq!(rows.len(), 50, "{method}: one gradient-log row per step");
        for r in &rows {
            assert!(r[2].is_finite() && r[3].is_finite(), "{method}: losses {r:?}");
            assert!(r[14].is_finite() && r[14] > 0.0 && r[15].is_finite() && r[15] > 0.0, "{method}: λ {r:?}");
            // grad_log_every = 1: every method logs both norms and the cosine like GABA
            assert!(r[4] > 0.0 && r[5] > 0.0 && r[7].abs() <= 1.0, "{method}: norms {r:?}");
        }
        // Losses fall: the mean of the last 10 steps is below that of the first 10, per task.
        for (col, task) in [(2, "RUL"), (3, "health")] {
            let first = mean(rows[..10].iter().map(|r| r[col]));
            let last = mean(rows[40..].iter().map(|r| r[col]));
            assert!(last < first, "{method}: {task} loss {first} → {last}");
        }
        match method {
            // ½e^{−s} from s = 0: starts at 0.5 each, and the large RUL loss pushes s_rul up, so
            // its weight falls while the health weight (loss ≈ 1.1 > 1) also falls a little
            "uncertainty" => {
                assert_eq!((rows[0][14], rows[0][15]), (0.5, 0.5));
                assert!(rows[49][14] < 0.5, "λ_rul {}", rows[49][14]);
            }
            // uniform K·(1/K) = 1 while fewer than two epochs have ended
            "dwa" => {
                let epochs: Vec<f64> = rows.iter().map(|r| r[0]).collect();
                for r in &rows {
                    if r[0] < 2.0 {
                        assert_eq!((r[14], r[15]), (1.0, 1.0));
                    }
                }
                assert!(epochs.last().unwrap() >= &2.0, "50 steps of 64 span ≥ 3 epochs of this fleet");
                let after: Vec<&Vec<f64>> = rows.iter().filter(|r| r[0] >= 2.0).collect();
                assert!((after[0][14] + after[0][15] - 2.0).abs() < 1e-12);
                assert_ne!(after[0][14], 1.0, "DWA moved the weights after two epochs");
            }
            // weights start at 1, stay positive and sum to K = 2; the dominant RUL gradient
            // (ratio ≫ 1 at initialisation) pushes λ_rul down
            "gradnorm" => {
                assert_eq!((rows[0][14], rows[0][15]), (1.0, 1.0));
                for r in &rows {
                    assert!((r[14] + r[15] - 2.0).abs() < 1e-9, "{r:?}");
                }
                assert!(rows[49][14] < 1.0, "λ_rul {}", rows[49][14]);
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn gradnorm_divergence_stops_cleanly_and_keeps_the_checkpoint() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("gradnorm");
    let quiet = Options { quiet: true, ..Default::default() };
    let stop = Options { quiet: true, stop_after_epochs: Some(1) };
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
