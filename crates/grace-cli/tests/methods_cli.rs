//! `grace methods` and `grace train --help` print the method registry: names, needs, cost,
//! parameters with their defaults, citations.

mod common;
use common::{json, stdout};

#[test]
fn methods_json_lists_the_registry() {
    let v = json(&["methods", "--json"]);
    let all = v.as_array().unwrap();
    let names: Vec<&str> = all.iter().map(|m| m["name"].as_str().unwrap()).collect();
    // the methods of docs/reference.md §4.3 first, in its order
    assert_eq!(names[..8], ["baseline", "amnl", "gaba", "grace", "uncertainty", "dwa", "gradnorm", "single"]);
    let grace_m = &all[3];
    assert_eq!(grace_m["rul_loss"], "weighted_mse");
    assert_eq!(grace_m["needs"], "norms");
    // two tasks, one backward pass each
    assert_eq!(grace_m["cost"]["backward_passes"], 2);
    assert_eq!(grace_m["cost"]["extra_forwards"], 0);
    let params = grace_m["params"].as_array().unwrap();
    let beta = params.iter().find(|p| p["name"] == "beta").unwrap();
    assert_eq!(beta["default"], 0.99);
    assert!(beta["doc"].as_str().unwrap().contains("β"));
    assert_eq!(params.iter().find(|p| p["name"] == "warmup_steps").unwrap()["default"], 100);
    // the loss-only methods take one backward pass
    assert_eq!(all[0]["cost"]["backward_passes"], 1);
    assert_eq!(all[4]["needs"], "losses");
    assert!(all[6]["citation"].as_str().unwrap().contains("Chen"));
    assert_eq!(all[7]["params"].as_array().unwrap().len(), 0);
    // FAMO's extra forward and DB-MTL's per-task gradients show in the cost
    let by_name = |n: &str| all.iter().find(|m| m["name"] == n).unwrap();
    assert_eq!(
        (&by_name("famo")["cost"]["backward_passes"], &by_name("famo")["cost"]["extra_forwards"]),
        (&1.into(), &1.into())
    );
    assert_eq!(by_name("famo")["needs"], "losses_after_update");
    assert_eq!(
        (&by_name("dbmtl")["needs"], &by_name("dbmtl")["cost"]["backward_passes"]),
        (&"gradient_vectors".into(), &2.into())
    );
    assert_eq!(by_name("rlw")["cost"]["backward_passes"], 1);
    for m in all {
        assert!(m["cost"]["backward_passes"].as_u64().unwrap() >= 1, "{m}");
        assert!(!m["citation"].as_str().unwrap().is_empty(), "{m}");
    }
}

#[test]
fn methods_text_and_train_help_come_from_the_registry() {
    let text = stdout(&["methods"]);
    assert!(text.contains("method.temperature = 2.0"), "{text}");
    assert!(text.contains("Kendall"), "{text}");
    let help = stdout(&["train", "--help"]);
    assert!(help.contains("baseline, amnl, gaba, grace, uncertainty, dwa, gradnorm, single"), "{help}");
}
