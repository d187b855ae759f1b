//! End-to-end tests of `grace explain` and `grace simulate`: run the built binary and check the
//! printed numbers against values computed by hand from docs/reference.md §4.

mod common;
use common::{f, fails, grace, into_closed_pipe, json, stdout};

const EXAMPLE: &[&str] = &[
    "explain",
    "--y-true",
    "12,40,75,130",
    "--y-pred",
    "20,35,70,110",
    "--g-rul",
    "12.5",
    "--g-health",
    "0.05",
    "--l-health",
    "0.9",
];

#[test]
fn explain_json_matches_the_hand_computed_example() {
    let v = json(&[EXAMPLE, &["--json"]].concat());
    // w(12) = 1 + (1 − 12/125) = 1.904, w(40) = 1.68, w(75) = 1.4, w(130) = 1 + clip(−0.04) = 1
    let w: Vec<f64> = v["samples"].as_array().unwrap().iter().map(|s| f(&s["weight"])).collect();
    for (got, want) in w.iter().zip([1.904, 1.68, 1.4, 1.0]) {
        assert!((got - want).abs() < 1e-12, "w = {w:?}");
    }
    // w·r² = 1.904·64 = 121.856, 1.68·25 = 42, 1.4·25 = 35, 1·400 = 400
    assert!((f(&v["samples"][0]["weighted"]) - 121.856).abs() < 1e-9);
    // wmse = 598.856/4 = 149.714; mse = 514/4 = 128.5
    assert!((f(&v["wmse"]) - 149.714).abs() < 1e-9);
    assert_eq!(f(&v["mse"]), 128.5);
    // raw = (0.05/12.55, 12.5/12.55) = (0.0039840637, 0.9960159363)
    assert!((f(&v["lambda"]["raw"][0]) - 0.05 / 12.55).abs() < 1e-15);
    assert!((f(&v["lambda"]["raw"][1]) - 12.5 / 12.55).abs() < 1e-15);
    // ema = 0.99·0.5 + 0.01·raw = (0.4950398406, 0.5049601594); above ε, Σ = 1 → final = ema
    assert!((f(&v["lambda"]["ema"][0]) - 0.495_039_840_637_450_2).abs() < 1e-12);
    assert!((f(&v["lambda"]["floored"][1]) - 0.504_960_159_362_549_8).abs() < 1e-12);
    assert!((f(&v["lambda"]["final"][0]) - 0.495_039_840_637_450_2).abs() < 1e-12);
    // loss = 0.4950398406·149.714 + 0.5049601594·0.9 = 74.114394 + 0.454464 = 74.568858
    assert!((f(&v["loss"]) - 74.568_858).abs() < 1e-5, "{}", v["loss"]);
    // converged: (max(0.0039840637, 0.05), 0.9960159363) / 1.0460159363 = (0.0478004, 0.9521996)
    let l0 = 0.05 / (0.05 + 12.5 / 12.55);
    assert!((f(&v["converged"]["lambda"][0]) - l0).abs() < 1e-12);
    assert!((f(&v["converged"]["lambda"][0]) - 0.047_800_4).abs() < 1e-6);
    // L∞ = 0.0478004·149.714 + 0.9521996·0.9 = 7.156393 + 0.856980 = 8.013373
    assert!((f(&v["converged"]["loss"]) - (l0 * 149.714 + (1.0 - l0) * 0.9)).abs() < 1e-9);
    assert!((f(&v["converged"]["loss"]) - 8.013_37).abs() < 1e-4);
}

#[test]
fn explain_options_change_the_numbers() {
    // --slope steep --max-rul 100: w(12) = 1 + 2·(1 − 0.12) = 2.76
    let v = json(&[EXAMPLE, &["--slope", "steep", "--max-rul", "100", "--json"]].concat());
    assert!((f(&v["samples"][0]["weight"]) - 2.76).abs() < 1e-12);
    // --prev 0.02,0.98 --steps 1 --floor 0.1: ema_rul = 0.99·0.02 + 0.01·0.0039841 = 0.01983984 < 0.1
    // → floored (0.1, 0.98016016), Σ = 1.08016016, λ*_rul = 0.0925789
    let v = json(&[EXAMPLE, &["--prev", "0.02,0.98", "--floor", "0.1", "--json"]].concat());
    let ema0 = 0.99 * 0.02 + 0.01 * (0.05 / 12.55);
    assert!((f(&v["lambda"]["ema"][0]) - ema0).abs() < 1e-12);
    assert_eq!(f(&v["lambda"]["floored"][0]), 0.1);
    let ema1 = 0.99 * 0.98 + 0.01 * (12.5 / 12.55);
    assert!((f(&v["lambda"]["final"][0]) - 0.1 / (0.1 + ema1)).abs() < 1e-12);
    assert!((f(&v["lambda"]["final"][0]) - 0.092_578_9).abs() < 1e-6);
}

#[test]
fn explain_prints_the_walk_through() {
    let out = grace(EXAMPLE);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8(out.stdout).unwrap();
    for want in ["598.8560 / 4 = 149.714000", "514.0000 / 4 = 128.500000", "1.9040", "λ*", "74.5688", "8.0133"] {
        assert!(s.contains(want), "missing `{want}` in:\n{s}");
    }
}

#[test]
fn explain_rejects_bad_input_by_name() {
    let err = fails;
    let base = ["explain", "--g-rul", "1", "--g-health", "1", "--l-health", "1"];
    let e = err(&[&base[..], &["--y-true", "1,2,3", "--y-pred", "1,2"]].concat());
    assert!(e.contains("expected 3") && e.contains("got 2"), "{e}");
    let e = err(&[&base[..], &["--y-true", "1,-2", "--y-pred", "1,2"]].concat());
    assert!(e.contains("y_true[1]") && e.contains("-2"), "{e}");
    let e = err(&[&base[..], &["--y-true", "1,2", "--y-pred", "1,NaN"]].concat());
    assert!(e.contains("y_pred[1]") && e.contains("NaN"), "{e}");
    let e = err(&["explain", "--y-true", "1", "--y-pred", "1", "--g-rul", "-1", "--g-health", "1", "--l-health", "1"]);
    assert!(e.contains("gradient norm") && e.contains("-1"), "{e}");
    let e = err(&[EXAMPLE, &["--prev", "0.5"]].concat());
    assert!(e.contains("--prev needs 2 values"), "{e}");
    let e = err(&[EXAMPLE, &["--beta", "1"]].concat());
    assert!(e.contains("β") && e.contains('1'), "{e}");
}

#[test]
fn explain_takes_any_finite_prediction_and_prints_clean_numbers() {
    // ŷ = −5 for y = 10: w = 1 + (1 − 10/125) = 1.92, r = −15, w·r² = 432; y = 130 is exact →
    // wmse = 432/2 = 216, mse = 225/2 = 112.5. 26.4 + 0.039433 is 26.439432999999998 in floats.
    let args = [
        "explain",
        "--y-true",
        "10,130",
        "--y-pred",
        "-5,130",
        "--g-rul",
        "26.4",
        "--g-health",
        "0.039433",
        "--l-health",
        "0.5",
    ];
    let v = json(&[&args[..], &["--json"]].concat());
    assert_eq!((f(&v["wmse"]), f(&v["mse"]), f(&v["samples"][0]["residual"])), (216.0, 112.5, -15.0));
    let text = stdout(&args);
    assert!(text.contains("S = 26.439433:") && !text.contains("26.4394329"), "{text}");
    assert!(text.contains("   1     10.000     -5.000    -15.000"), "{text}");
    // a perfect batch has nothing to weight: no NaN factor
    let text =
        stdout(&["explain", "--y-true", "3", "--y-pred", "3", "--g-rul", "1", "--g-health", "2", "--l-health", "1"]);
    assert!(text.contains("= 0.000000\n") && !text.contains("NaN"), "{text}");
    // the truth is still a remaining life: never negative
    let e =
        fails(&["explain", "--y-true", "-1", "--y-pred", "-5", "--g-rul", "1", "--g-health", "1", "--l-health", "1"]);
    assert!(e.contains("y_true[0] must be ≥ 0, got -1"), "{e}");
}

#[test]
fn a_gaba_floor_that_cannot_hold_is_refused_with_the_reason() {
    // K = 3 tasks, ε = 0.4: three weights summing to 1 cannot all stay at or above 0.4
    let e = fails(&["simulate", "--tasks", "3", "--floor", "0.4"]);
    assert!(e.contains("K = 3") && e.contains("1/K = 0.333333") && e.contains("ε·K = 1.200000 ≥ 1"), "{e}");
    assert!(!e.contains("binds"), "{e}");
    // explain has two tasks: ε = 0.5 is already too much
    let e = fails(&[EXAMPLE, &["--floor", "0.5"]].concat());
    assert!(e.contains("K = 2") && e.contains("1/K = 0.500000"), "{e}");
    // training refuses it while resolving the config, before any run directory exists
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let e = fails(&["train", "--data", "synthetic", "--set", "method.floor=0.5", "--out", run.to_str().unwrap()]);
    assert!(e.contains("floor") && e.contains("K = 2"), "{e}");
    assert!(!run.exists());
}

#[test]
fn a_closed_pipe_ends_grace_quietly() {
    // `grace … | head` after head has quit: no panic, no message, for any command that prints
    for args in [
        &["methods"][..],
        &["methods", "--json"],
        &[EXAMPLE, &["--json"]].concat(),
        &["simulate", "--steps", "300"],
        &["data", "summary", "--data", "synthetic", "--json"],
    ] {
        let out = into_closed_pipe(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.is_empty(), "grace {args:?} into a closed pipe said: {err}");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            // ended by SIGPIPE, as `cat` is
            assert_eq!(out.status.signal(), Some(13), "grace {args:?}: {:?}", out.status);
        }
    }
}

#[test]
fn simulate_json_reports_binding_and_equilibrium() {
    let v = json(&[
        "simulate", "--ratio", "500", "--beta", "0.99", "--floor", "0.05", "--warmup", "100", "--steps", "1000",
        "--json",
    ]);
    // after warm-up ema_rul(n) = 0.99^n/2 + (1 − 0.99^n)/501 < 0.05 first for n = 233 → step 100 + 232
    assert_eq!(v["floor_binds_at"], 332);
    // equilibrium: (0.05, 500/501)/(0.05 + 500/501) = (0.0477097, 0.9522903)
    let f1 = 500.0 / 501.0;
    assert!((f(&v["equilibrium"][0]) - 0.05 / (0.05 + f1)).abs() < 1e-12);
    assert!((f(&v["equilibrium"][0]) - 0.047_709_7).abs() < 1e-6);
    assert_eq!(v["settled_at"], 412);
    assert_eq!(v["summary"][0]["lambda"], serde_json::json!([0.5, 0.5]));
    // K = 3: equilibrium raw = (2/1002, 1001/2004, 1001/2004) → floored (0.05, ·, ·)
    let v = json(&["simulate", "--ratio", "1000", "--tasks", "3", "--steps", "50", "--json"]);
    let r = 1001.0 / 2004.0;
    assert!((f(&v["equilibrium"][0]) - 0.05 / (0.05 + 2.0 * r)).abs() < 1e-12);
    assert!(v["floor_binds_at"].is_null(), "warm-up of 100 covers all 50 steps");
}

#[test]
fn simulate_noise_is_seeded() {
    let a = json(&["simulate", "--noise", "0.5", "--seed", "7", "--steps", "300", "--json"]);
    let b = json(&["simulate", "--noise", "0.5", "--seed", "7", "--steps", "300", "--json"]);
    let c = json(&["simulate", "--noise", "0.5", "--seed", "8", "--steps", "300", "--json"]);
    assert_eq!(a["final"], b["final"]);
    assert_ne!(a["final"], c["final"]);
    assert_eq!(a["skipped"], 0);
}

#[test]
fn simulate_writes_csv_svg_png_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    let out = grace(&["simulate", "--steps", "200", "--out", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "step,lambda_rul,lambda_health,raw_rul,raw_health");
    assert_eq!(lines.len(), 201);
    // warm-up: step 0 holds 1/2 everywhere
    assert_eq!(lines[1], "0,0.5,0.5,0.5,0.5");
    // step 100 is the first past warm-up: raw = (1/501, 500/501)
    let row: Vec<f64> = lines[101].split(',').map(|x| x.parse().unwrap()).collect();
    assert_eq!(row[0], 100.0);
    assert!((row[3] - 1.0 / 501.0).abs() < 1e-15);

    let svg = dir.path().join("t.svg");
    let out = grace(&["simulate", "--steps", "400", "--out", svg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = std::fs::read_to_string(&svg).unwrap();
    for want in [
        "<svg",
        "GABA task weights",
        "training step",
        "task weight",
        "floor ε = 0.05",
        "λ_rul",
        "λ_health",
        "equilibrium 0.0477",
    ] {
        assert!(s.contains(want), "svg lacks `{want}`");
    }

    let png = dir.path().join("t.png");
    let out = grace(&["simulate", "--steps", "400", "--out", png.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");

    // nothing but the three outputs: no temporary file left behind
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["t.csv", "t.png", "t.svg"]);

    let out = grace(&["simulate", "--out", dir.path().join("t.txt").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(".svg, .png or .csv"));
}

#[test]
fn simulate_prints_a_summary() {
    let out = grace(&["simulate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8(out.stdout).unwrap();
    for want in
        ["first binds at step 332", "equilibrium λ* (ema = raw): rul 0.047710, health 0.952290", "from step 412 on"]
    {
        assert!(s.contains(want), "missing `{want}` in:\n{s}");
    }
    let out = grace(&["simulate", "--tasks", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("≥ 2"));
}
