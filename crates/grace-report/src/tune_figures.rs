//! The figure of a tune page that the line panels cannot draw: a trial's score against one searched
//! key, on a linear, logarithmic or categorical axis, with points coloured by the rung they reached.

use crate::figures::{color, fmt_num, Plot};
use plotters::coord::Shift;
use plotters::prelude::*;

const FONT: &str = "sans-serif";

/// How a searched key's values are laid out along the x axis.
#[derive(Debug, Clone, PartialEq)]
pub enum Axis {
    Linear,
    /// Log-scaled ranges: drawn at log10(x), ticks labelled in x.
    Log,
    /// A list of choices, one column each, in the order the space lists them.
    Choices(Vec<String>),
}

/// One trial in the scatter.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialPoint {
    pub trial: usize,
    /// The value (for choices: the index of the choice).
    pub x: f64,
    pub score: f64,
    /// The highest rung the trial has a score at.
    pub rung: usize,
}

#[derive(Debug, Clone)]
pub struct ParamScatter {
    pub title: String,
    pub key: String,
    pub y_label: String,
    pub axis: Axis,
    pub points: Vec<TrialPoint>,
    /// Legend text of each rung ("rung 1: 9 epochs").
    pub rung_labels: Vec<String>,
}

impl ParamScatter {
    /// Where a point is drawn: log10 on a log axis; on a choice axis a small fixed offset per trial
    /// so trials with the same choice do not hide each other.
    pub fn position(&self, p: &TrialPoint) -> (f64, f64) {
        let x = match self.axis {
            Axis::Linear => p.x,
            Axis::Log if p.x > 0.0 => p.x.log10(),
            Axis::Log => f64::NAN,
            Axis::Choices(_) => p.x + 0.3 * ((p.trial as f64 * 0.618_034).fract() - 0.5),
        };
        (x, p.score)
    }

    fn x_range(&self) -> (f64, f64) {
        if let Axis::Choices(c) = &self.axis {
            return (-0.5, c.len().max(1) as f64 - 0.5);
        }
        padded(self.points.iter().map(|p| self.position(p).0))
    }
}

fn padded(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        vals.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi - lo < 1e-12 { lo.abs().max(1.0) * 0.1 } else { (hi - lo) * 0.05 };
    (lo - pad, hi + pad)
}

impl Plot for ParamScatter {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (x0, x1) = self.x_range();
        let (y0, y1) = padded(self.points.iter().map(|p| p.score));
        let y1 = y1 + (y1 - y0) * 0.25; // legend headroom
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let axis = self.axis.clone();
        let xfmt = move |v: &f64| match &axis {
            Axis::Linear => fmt_num(*v),
            Axis::Log => fmt_num(10f64.powf(*v)),
            Axis::Choices(c) if (v - v.round()).abs() < 1e-9 && *v >= 0.0 => {
                c.get(v.round() as usize).cloned().unwrap_or_default()
            }
            Axis::Choices(_) => String::new(),
        };
        let x_desc = match self.axis {
            Axis::Log => format!("{} (log scale)", self.key),
            _ => self.key.clone(),
        };
        let mut mesh = chart.configure_mesh();
        if let Axis::Choices(c) = &self.axis {
            mesh.x_labels(4 * c.len() + 1);
        }
        mesh.x_desc(x_desc)
            .y_desc(&self.y_label)
            .x_label_formatter(&xfmt)
            .y_label_formatter(&|v| fmt_num(*v))
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        for (rung, label) in self.rung_labels.iter().enumerate() {
            let c = color(rung);
            let pts: Vec<(f64, f64)> = self
                .points
                .iter()
                .filter(|p| p.rung == rung)
                .map(|p| self.position(p))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            if pts.is_empty() {
                continue;
            }
            chart
                .draw_series(pts.into_iter().map(|q| Circle::new(q, 5, c.filled())))?
                .label(label.as_str())
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 13))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(trial: usize, x: f64) -> TrialPoint {
        TrialPoint { trial, x, score: 10.0, rung: 0 }
    }

    fn scatter(axis: Axis) -> ParamScatter {
        ParamScatter {
            title: "t".into(),
            key: "train.lr".into(),
            y_label: "score".into(),
            axis,
            points: vec![point(0, 1e-4), point(1, 1e-2)],
            rung_labels: vec!["rung 0".into()],
        }
    }

    #[test]
    fn log_axes_draw_decades_evenly_and_choices_stay_in_their_column() {
        let s = scatter(Axis::Log);
        assert_eq!(s.position(&point(0, 1e-3)).0, -3.0);
        assert!(s.position(&point(0, 0.0)).0.is_nan(), "no place for 0 on a log axis");
        let (lo, hi) = s.x_range();
        assert!((lo - (-4.1)).abs() < 1e-9 && (hi - (-1.9)).abs() < 1e-9, "{lo} {hi}");
        let c = scatter(Axis::Choices(vec!["8".into(), "16".into()]));
        for t in 0..20 {
            let x = c.position(&point(t, 1.0)).0;
            assert!((0.85..=1.15).contains(&x), "trial {t}: {x}");
        }
        assert_eq!(c.x_range(), (-0.5, 1.5));
    }

    #[test]
    fn the_scatter_draws_to_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        for (name, axis) in [("log", Axis::Log), ("choices", Axis::Choices(vec!["a".into(), "b".into()]))] {
            let files = crate::figures::save(&scatter(axis), dir.path(), name, (500, 400)).unwrap();
            assert_eq!(crate::html::check_png(&files.png).unwrap(), (500, 400));
            crate::html::check_svg(&files.svg).unwrap();
        }
    }
}
