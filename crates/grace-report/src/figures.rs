//! The report's figures, drawn with plotters to both PNG (for viewing) and SVG (for papers):
//! line panels with shaded bands, predicted-vs-true, NASA-shaded error histogram, confusion, Pareto.

use crate::io::write_atomic;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Tableau 10: distinguishable, colour-blind friendlier than the plotters defaults.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

const FONT: &str = "sans-serif";

/// Something drawable on any plotters backend (drawn twice: PNG and SVG).
pub trait Plot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static;
}

/// Written figure files, relative names inside the figure folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FigureFiles {
    pub png: PathBuf,
    pub svg: PathBuf,
}

/// Draws `plot` to `dir/name.png` and `dir/name.svg`, each atomically.
pub fn save<P: Plot>(plot: &P, dir: &Path, name: &str, size: (u32, u32)) -> anyhow::Result<FigureFiles> {
    let png = dir.join(format!("{name}.png"));
    let svg = dir.join(format!("{name}.svg"));
    for path in [&png, &svg] {
        write_atomic(path, |tmp| draw_file(plot, tmp, size))
            .map_err(|e| anyhow::anyhow!("drawing {}: {e:#}", path.display()))?;
    }
    Ok(FigureFiles { png, svg })
}

/// Draws `plot` on a white background into `path`: SVG when it ends in `.svg`, else a bitmap in
/// the format its extension names (PNG).
pub fn draw_file<P: Plot>(plot: &P, path: &Path, size: (u32, u32)) -> anyhow::Result<()> {
    fn on<DB: DrawingBackend, P: Plot>(plot: &P, backend: DB) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let root = backend.into_drawing_area();
        root.fill(&WHITE)?;
        plot.draw(&root)?;
        root.present()?;
        Ok(())
    }
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
        on(plot, SVGBackend::new(path, size))
    } else {
        on(plot, BitMapBackend::new(path, size))
    }
}

/// Axis tick text: short, and scientific only where plain digits would be unreadable.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = if a >= 100.0 {
            format!("{v:.0}")
        } else if a >= 1.0 {
            format!("{v:.2}")
        } else {
            format!("{v:.3}")
        };
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let d = if lo.abs() > 0.0 { lo.abs() * 0.1 } else { 1.0 };
        return (lo - d, hi + d);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    Line,
    Dashed,
    Points,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub label: Option<String>,
    pub color: RGBColor,
    pub mark: Mark,
    pub width: u32,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(label: Option<String>, color: RGBColor, mark: Mark, points: Vec<(f64, f64)>) -> Series {
        Series { label, color, mark, width: 2, points }
    }
}

/// A shaded range drawn under the series of a panel, e.g. a prediction interval: (x, low, high).
#[derive(Debug, Clone)]
pub struct Band {
    pub label: Option<String>,
    pub color: RGBColor,
    pub points: Vec<(f64, f64, f64)>,
}

impl Band {
    /// The outline of the band: along the high edge, then back along the low one.
    fn outline(&self, ty: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        let ok = |p: &&(f64, f64, f64)| p.0.is_finite() && ty(p.1).is_finite() && ty(p.2).is_finite();
        let upper = self.points.iter().filter(ok).map(|p| (p.0, ty(p.2)));
        let lower = self.points.iter().rev().filter(ok).map(|p| (p.0, ty(p.1)));
        upper.chain(lower).collect()
    }
}

/// One chart: series on shared axes; `log_y` plots log10(y) with ticks labelled in y.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_y: bool,
    pub series: Vec<Series>,
    /// Vertical markers (x, legend label), e.g. the selected epoch.
    pub vlines: Vec<(f64, String)>,
    pub y_range: Option<(f64, f64)>,
    /// Ticks only at whole numbers (epochs, ranks): no "epoch 0.5".
    pub x_integer: bool,
    /// Shaded ranges, drawn first so the series stay visible on top.
    pub bands: Vec<Band>,
}

impl Panel {
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.iter().all(|p| !p.0.is_finite() || !p.1.is_finite()))
            && self.bands.iter().all(|b| b.outline(|y| y).is_empty())
    }
}

/// A figure title over one or more panels side by side.
#[derive(Debug, Clone)]
pub struct Panels {
    pub title: String,
    pub panels: Vec<Panel>,
}

impl Plot for Panels {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let area = root.titled(&self.title, (FONT, 24))?;
        let n = self.panels.len().max(1);
        for (a, p) in area.split_evenly((1, n)).iter().zip(&self.panels) {
            draw_panel(a, p)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let ty = |y: f64| {
        if p.log_y {
            if y > 0.0 {
                y.log10()
            } else {
                f64::NAN
            }
        } else {
            y
        }
    };
    let pts = || {
        p.series
            .iter()
            .flat_map(|s| s.points.iter().map(|&(x, y)| (x, ty(y))))
            .chain(p.bands.iter().flat_map(|b| b.outline(ty)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let (x0, x1) = range(pts().map(|q| q.0).chain(p.vlines.iter().map(|v| v.0)));
    let (y0, mut y1) = p.y_range.map(|(a, b)| (ty(a), ty(b))).unwrap_or_else(|| range(pts().map(|q| q.1)));
    let legend = p.series.iter().any(|s| s.label.is_some()) || p.bands.iter().any(|b| b.label.is_some());
    if p.y_range.is_none() && (legend || !p.vlines.is_empty()) {
        // headroom so the legend (upper right) does not hide the data
        y1 += (y1 - y0) * 0.22;
    }
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FONT, 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let log = p.log_y;
    let yfmt = move |v: &f64| fmt_num(if log { 10f64.powf(*v) } else { *v });
    let xint = p.x_integer;
    let xfmt = move |v: &f64| {
        if xint && (v - v.round()).abs() > 1e-9 {
            String::new()
        } else {
            fmt_num(*v)
        }
    };
    let y_desc = if log { format!("{} (log scale)", p.y_label) } else { p.y_label.clone() };
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&y_desc)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    if p.is_empty() {
        chart.draw_series(std::iter::once(Text::new(
            "not measured for this run",
            ((x0 + x1) / 2.0, (y0 + y1) / 2.0),
            (FONT, 16),
        )))?;
        return Ok(());
    }
    let mut labelled = false;
    for b in &p.bands {
        let c = b.color;
        let anno = chart.draw_series(std::iter::once(Polygon::new(b.outline(ty), c.mix(0.25).filled())))?;
        if let Some(l) = &b.label {
            anno.label(l.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], c.mix(0.35).filled()));
            labelled = true;
        }
    }
    for s in &p.series {
        let data: Vec<(f64, f64)> =
            s.points.iter().map(|&(x, y)| (x, ty(y))).filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        let style = ShapeStyle::from(&s.color).stroke_width(s.width);
        let anno = match s.mark {
            Mark::Line => chart.draw_series(LineSeries::new(data, style))?,
            Mark::Dashed => chart.draw_series(DashedLineSeries::new(data, 8, 5, style))?,
            Mark::Points => chart.draw_series(
                data.into_iter().map(|q| Circle::new(q, 3 + s.width.saturating_sub(2), s.color.filled())),
            )?,
        };
        if let Some(l) = &s.label {
            let c = s.color;
            anno.label(l.as_str()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
            labelled = true;
        }
    }
    for (x, l) in &p.vlines {
        let style = ShapeStyle::from(&BLACK.mix(0.6)).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(vec![(*x, y0), (*x, y1)], 5, 4, style))?
            .label(l.as_str())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6)));
        labelled = true;
    }
    if labelled {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 13))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    Ok(())
}

/// NASA penalty of one engine for error d = predicted − true (docs/reference.md §6).
pub fn nasa_penalty(d: f64) -> f64 {
    grace_core::metrics::nasa_term(d)
}

/// Histogram of d = predicted − true RUL with the background shaded by the NASA penalty:
/// at equal |d| the late side (d > 0) is darker because it costs more.
#[derive(Debug, Clone)]
pub struct ErrorHistogram {
    pub title: String,
    pub x_label: String,
    pub errors: Vec<f64>,
}

impl ErrorHistogram {
    /// Bin width and half-range: symmetric about 0 so no bin straddles early and late.
    pub fn bins(&self) -> (f64, f64) {
        let m = self.errors.iter().filter(|e| e.is_finite()).fold(0.0f64, |a, e| a.max(e.abs())).max(10.0);
        let raw = m / 10.0;
        let mag = 10f64.powf(raw.log10().floor());
        let w = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|k| k * mag).find(|w| *w >= raw).unwrap_or(raw);
        (w, (m / w).ceil() * w)
    }

    pub fn counts(&self) -> Vec<(f64, usize)> {
        let (w, r) = self.bins();
        let n = (2.0 * r / w).round() as usize;
        let mut c = vec![0usize; n];
        for e in self.errors.iter().filter(|e| e.is_finite()) {
            let i = (((e + r) / w).floor() as isize).clamp(0, n as isize - 1) as usize;
            c[i] += 1;
        }
        c.into_iter().enumerate().map(|(i, k)| (-r + i as f64 * w, k)).collect()
    }
}

impl Plot for ErrorHistogram {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (w, r) = self.bins();
        let counts = self.counts();
        let ymax = counts.iter().map(|c| c.1).max().unwrap_or(1).max(1) as f64 * 1.25;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 22))
            .margin(14)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(-r..r, 0.0..ymax)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc("test engines")
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        // Shading: alpha grows with log(1 + penalty), normalised by the late penalty at the edge.
        let top = (1.0 + nasa_penalty(r)).ln();
        let strips = 80;
        let sw = 2.0 * r / strips as f64;
        chart.draw_series((0..strips).map(|i| {
            let a = -r + i as f64 * sw;
            let d = a + sw / 2.0;
            let alpha = 0.04 + 0.4 * ((1.0 + nasa_penalty(d)).ln() / top).min(1.0);
            let c = if d > 0.0 { RGBColor(214, 39, 40) } else { RGBColor(31, 119, 180) };
            Rectangle::new([(a, 0.0), (a + sw, ymax)], c.mix(alpha).filled())
        }))?;
        chart.draw_series(counts.iter().filter(|c| c.1 > 0).map(|&(a, k)| {
            Rectangle::new([(a + w * 0.05, 0.0), (a + w * 0.95, k as f64)], RGBColor(60, 60, 60).mix(0.85).filled())
        }))?;
        chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (0.0, ymax)], BLACK.stroke_width(2))))?;
        let style = TextStyle::from((FONT, 14)).color(&BLACK);
        chart.draw_series([
            Text::new("early, d < 0: penalty exp(-d/13) - 1", (-r + 0.03 * r, ymax * 0.95), style.clone()),
            Text::new("late, d > 0: exp(d/10) - 1 (heavier)", (0.06 * r, ymax * 0.95), style.clone()),
        ])?;
        Ok(())
    }
}

/// Health-state confusion matrix: rows true class, columns predicted, cell shade = row share.
#[derive(Debug, Clone)]
pub struct Confusion {
    pub title: String,
    pub classes: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

impl Plot for Confusion {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let k = self.classes.len().max(1) as u32;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 22))
            .margin(14)
            .x_label_area_size(50)
            .y_label_area_size(110)
            // 0..k-1 is inclusive in plotters: k segments.
            .build_cartesian_2d((0u32..k - 1).into_segmented(), (0u32..k - 1).into_segmented())?;
        let names = self.classes.clone();
        let names2 = self.classes.clone();
        let xfmt = move |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        // Row 0 (first true class) at the top, as confusion matrices are read.
        let yfmt = move |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) if *i < k => names2.get((k - 1 - i) as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted health state")
            .y_desc("true health state")
            .x_label_formatter(&xfmt)
            .y_label_formatter(&yfmt)
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 14))
            .draw()?;
        for t in 0..k {
            let row = self.counts.get(t as usize).cloned().unwrap_or_default();
            let total: u64 = row.iter().sum();
            for p in 0..k {
                let c = row.get(p as usize).copied().unwrap_or(0);
                let share = if total > 0 { c as f64 / total as f64 } else { 0.0 };
                let y = k - 1 - t;
                let fill = RGBColor(31, 119, 180).mix(0.08 + 0.85 * share);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                    ],
                    fill.filled(),
                )))?;
                let txt = if total > 0 { format!("{c} ({:.0}%)", 100.0 * share) } else { format!("{c}") };
                let color = if share > 0.55 { WHITE } else { BLACK };
                let style = TextStyle::from((FONT, 18)).color(&color).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ));
                chart.draw_series(std::iter::once(Text::new(
                    txt,
                    (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                    style,
                )))?;
            }
        }
        Ok(())
    }
}

/// One method in the RMSE–NASA scatter: its runs and their mean ± std.
#[derive(Debug, Clone)]
pub struct MethodPoints {
    pub method: String,
    pub color: RGBColor,
    pub runs: Vec<(f64, f64)>,
    pub mean: (f64, f64),
    pub std: (f64, f64),
}

/// RMSE–NASA scatter of all runs, method means with ±1 std bars, and the Pareto front of the means.
#[derive(Debug, Clone)]
pub struct ParetoPlot {
    pub title: String,
    pub methods: Vec<MethodPoints>,
    /// Indices into `methods` on the front, sorted by RMSE.
    pub front: Vec<usize>,
}

impl Plot for ParetoPlot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let all = || self.methods.iter().flat_map(|m| m.runs.iter().copied().chain(std::iter::once(m.mean)));
        let bars = || {
            self.methods.iter().flat_map(|m| {
                let (sx, sy) =
                    (if m.std.0.is_finite() { m.std.0 } else { 0.0 }, if m.std.1.is_finite() { m.std.1 } else { 0.0 });
                [
                    (m.mean.0 - sx, m.mean.1),
                    (m.mean.0 + sx, m.mean.1),
                    (m.mean.0, m.mean.1 + sy),
                    (m.mean.0, (m.mean.1 - sy).max(m.mean.1 * 0.5)),
                ]
            })
        };
        let ypos: Vec<f64> = all().map(|p| p.1).filter(|v| v.is_finite() && *v > 0.0).collect();
        let (ylo, yhi) = (ypos.iter().cloned().fold(f64::INFINITY, f64::min), ypos.iter().cloned().fold(0.0, f64::max));
        // NASA sums span decades across methods and seeds; go log when they do.
        let log = ylo.is_finite() && yhi / ylo > 30.0;
        let ty = |y: f64| {
            if log {
                if y > 0.0 {
                    y.log10()
                } else {
                    f64::NAN
                }
            } else {
                y
            }
        };
        let (x0, x1) = range(all().chain(bars()).map(|p| p.0));
        let (y0, mut y1) = range(all().chain(bars()).map(|p| ty(p.1)));
        y1 += (y1 - y0) * 0.25; // legend headroom
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 22))
            .margin(14)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let yfmt = move |v: &f64| fmt_num(if log { 10f64.powf(*v) } else { *v });
        chart
            .configure_mesh()
            .x_desc("test RMSE (cycles), lower is better")
            .y_desc(if log {
                "NASA score (sum over engines, log scale), lower is better"
            } else {
                "NASA score (sum over engines), lower is better"
            })
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&yfmt)
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        let front: Vec<(f64, f64)> =
            self.front.iter().map(|&i| (self.methods[i].mean.0, ty(self.methods[i].mean.1))).collect();
        if front.len() > 1 {
            chart
                .draw_series(DashedLineSeries::new(front.clone(), 8, 5, BLACK.stroke_width(2)))?
                .label("Pareto front of the method means")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        }
        for m in &self.methods {
            let c = m.color;
            chart.draw_series(m.runs.iter().map(|&(x, y)| Circle::new((x, ty(y)), 3, c.mix(0.45).filled())))?;
            let (mx, my) = m.mean;
            if m.std.0.is_finite() {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(mx - m.std.0, ty(my)), (mx + m.std.0, ty(my))],
                    c.stroke_width(2),
                )))?;
            }
            if m.std.1.is_finite() {
                let (lo, hi) = (ty((my - m.std.1).max(my * 0.5)), ty(my + m.std.1));
                chart.draw_series(std::iter::once(PathElement::new(vec![(mx, lo), (mx, hi)], c.stroke_width(2))))?;
            }
            chart
                .draw_series(std::iter::once(Circle::new((mx, ty(my)), 7, c.filled())))?
                .label(format!("{} (mean ± std; small dots: seeds)", m.method))
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
            chart.draw_series(std::iter::once(Text::new(
                m.method.clone(),
                (mx, ty(my)),
                TextStyle::from((FONT, 15)).color(&BLACK),
            )))?;
        }
        for &i in &self.front {
            let (mx, my) = self.methods[i].mean;
            chart.draw_series(std::iter::once(Circle::new((mx, ty(my)), 10, BLACK.stroke_width(2))))?;
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

    #[test]
    fn histogram_bins_are_symmetric_and_count_everything() {
        let h = ErrorHistogram {
            title: "t".into(),
            x_label: "d".into(),
            errors: vec![-38.5, -34.6, -90.5, 12.0, 0.0, f64::NAN],
        };
        let (w, r) = h.bins();
        assert_eq!((w, r), (10.0, 100.0));
        let c = h.counts();
        assert_eq!(c.len(), 20);
        assert_eq!(c.iter().map(|x| x.1).sum::<usize>(), 5);
        assert_eq!(c.iter().find(|x| x.0 == 0.0).unwrap().1, 1); // d = 0 counts as late (d ≥ 0)
        assert!(nasa_penalty(20.0) > nasa_penalty(-20.0));
    }

    #[test]
    fn tick_text_is_short() {
        assert_eq!(fmt_num(12.5), "12.5");
        assert_eq!(fmt_num(1234.0), "1234");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(2.5e9), "2.5e9");
        assert_eq!(fmt_num(0.0), "0");
    }
}
