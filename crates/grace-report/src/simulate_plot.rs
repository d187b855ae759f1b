//! The outputs of `grace simulate`: the GABA λ* trajectory under a constant gradient ratio as a
//! line chart (SVG or PNG) or a CSV table, so the command itself only parses arguments.

use crate::figures::{draw_file, Plot};
use grace_core::simulate::Trajectory;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Pixel size of the trajectory chart.
pub const SIZE: (u32, u32) = (1000, 600);

/// Task 0 is RUL; with two tasks the other is health, beyond that auxiliary tasks are numbered.
pub fn task_names(k: usize) -> Vec<String> {
    match k {
        2 => vec!["rul".into(), "health".into()],
        _ => (0..k).map(|i| if i == 0 { "rul".into() } else { format!("aux{i}") }).collect(),
    }
}

/// `step,lambda_<task>…,raw_<task>…`, one row per simulated step.
pub fn trajectory_csv(t: &Trajectory) -> String {
    let names = task_names(t.config.tasks);
    let mut s = String::from("step");
    for n in &names {
        s += &format!(",lambda_{n}");
    }
    for n in &names {
        s += &format!(",raw_{n}");
    }
    s.push('\n');
    for (i, (l, r)) in t.lambda.iter().zip(&t.raw).enumerate() {
        s += &i.to_string();
        for x in l.iter().chain(r) {
            s += &format!(",{x}");
        }
        s.push('\n');
    }
    s
}

/// Draws the trajectory into `path` (SVG for `.svg`, else PNG).
pub fn draw_lambda_trajectory(t: &Trajectory, path: &Path) -> anyhow::Result<()> {
    draw_file(&LambdaTrajectory(t), path, SIZE)
}

/// λ* of every task per step, each task's equilibrium marked at the end, and the floor ε dashed.
pub struct LambdaTrajectory<'a>(pub &'a Trajectory);

impl Plot for LambdaTrajectory<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let t = self.0;
        let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("plotting failed: {e}");
        let c = &t.config;
        let n = t.lambda.len() as f64;
        let noise = if c.noise > 0.0 { format!(", noise σ {}", c.noise) } else { String::new() };
        let title = format!(
            "GABA task weights: ratio {}, β {}, ε {}, warm-up {}{noise}",
            c.ratio, c.gaba.beta, c.gaba.floor, c.gaba.warmup
        );
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n, 0f64..1.0)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("training step")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("task weight λ*")
            .draw()
            .map_err(|e| err(&e))?;
        for (i, name) in task_names(c.tasks).iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    t.lambda.iter().enumerate().map(|(s, l)| (s as f64, l[i])),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(format!("λ_{name}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            let eq = t.equilibrium[i];
            chart.draw_series(std::iter::once(Circle::new((n - 1.0, eq), 5, color.filled()))).map_err(|e| err(&e))?;
            // Tasks with the same equilibrium (the K − 1 auxiliaries) would print on top of each other.
            if t.equilibrium[..i].iter().any(|o| (o - eq).abs() < 1e-3) {
                continue;
            }
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("equilibrium {eq:.4}"),
                    (n * 0.78, if eq > 0.5 { eq - 0.02 } else { eq + 0.06 }),
                    ("sans-serif", 16).into_font().color(&color),
                )))
                .map_err(|e| err(&e))?;
        }
        let grey = RGBColor(90, 90, 90);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, c.gaba.floor), (n, c.gaba.floor)],
                10,
                6,
                grey.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(format!("floor ε = {}", c.gaba.floor))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| err(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grace_core::simulate::{simulate, SimConfig};
    use grace_core::GabaConfig;

    fn three_tasks() -> Trajectory {
        let cfg = SimConfig {
            ratio: 100.0,
            tasks: 3,
            gaba: GabaConfig { beta: 0.9, floor: 0.05, warmup: 2 },
            steps: 20,
            noise: 0.0,
        };
        simulate(&cfg, &mut || 0.0).unwrap()
    }

    #[test]
    fn csv_has_a_row_per_step_and_columns_per_task() {
        let t = three_tasks();
        let text = trajectory_csv(&t);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "step,lambda_rul,lambda_aux1,lambda_aux2,raw_rul,raw_aux1,raw_aux2");
        assert_eq!(lines.len(), 21);
        // the warm-up holds every weight at 1/K
        let third = (1.0f64 / 3.0).to_string();
        assert_eq!(lines[1], format!("0,{third},{third},{third},{third},{third},{third}"));
    }

    #[test]
    fn svg_names_every_task_the_floor_and_one_label_per_distinct_equilibrium() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.svg");
        draw_lambda_trajectory(&three_tasks(), &path).unwrap();
        let s = std::fs::read_to_string(&path).unwrap();
        for want in ["GABA task weights: ratio 100", "λ_rul", "λ_aux1", "λ_aux2", "floor ε = 0.05"] {
            assert!(s.contains(want), "svg lacks `{want}`");
        }
        // the two auxiliaries share an equilibrium: it is labelled once
        assert_eq!(s.matches("equilibrium ").count(), 2);
        let png = dir.path().join("t.png");
        draw_lambda_trajectory(&three_tasks(), &png).unwrap();
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    }
}
