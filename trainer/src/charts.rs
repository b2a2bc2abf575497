//! PNG charts next to the metrics JSON: the confusion matrix and the learning curves.

use crate::train::EpochStats;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where chart text comes from: `SE_FONT` if set, else the first common TrueType font found.
const FONT_CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
];
const FONT: &str = "sans-serif";

/// Registers the chart font once (plotters' ab_glyph backend has no system font lookup).
fn font() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let candidates: Vec<PathBuf> = std::env::var_os("SE_FONT")
                .map(|p| vec![PathBuf::from(p)])
                .unwrap_or_else(|| FONT_CANDIDATES.iter().map(PathBuf::from).collect());
            let (path, bytes) = candidates
                .iter()
                .find_map(|p| std::fs::read(p).ok().map(|b| (p, b)))
                .ok_or_else(|| {
                    format!(
                        "no TrueType font for chart text (tried {}); install fonts-dejavu-core or set SE_FONT",
                        candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                    )
                })?;
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            register_font(FONT, FontStyle::Normal, bytes)
                .map_err(|_| format!("{} is not a usable TrueType font", path.display()))
        })
        .clone()
}

fn draw_err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> String + '_ {
    move |e| format!("cannot draw {}: {e:?}", path.display())
}

/// A confusion matrix as a heat map: rows are true labels, columns predictions; each cell shows
/// its count and is shaded by the share of its row.
pub fn confusion_png(
    path: &Path,
    title: &str,
    labels: &[String],
    matrix: &[Vec<usize>],
) -> Result<(), String> {
    font()?;
    let k = labels.len();
    let (cell, left, top) = (64i32, 110i32, 70i32);
    let size = (
        (left + cell * k as i32 + 20).max(760) as u32,
        (top + cell * k as i32 + 90) as u32,
    );
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let err = draw_err(path);
    root.fill(&WHITE).map_err(&err)?;
    let text = |size: f64| TextStyle::from((FONT, size).into_font()).color(&BLACK);
    // Long protocol names get a smaller font so they fit the image.
    let title_size = if title.len() > 50 { 12.0 } else { 20.0 };
    root.draw(&Text::new(title.to_string(), (10, 12), text(title_size)))
        .map_err(&err)?;
    for (i, row) in matrix.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (j, &n) in row.iter().enumerate() {
            let share = n as f64 / total;
            let (x, y) = (left + j as i32 * cell, top + i as i32 * cell);
            // White → deep blue with the row share; text flips to white on dark cells.
            let shade = RGBColor(
                (255.0 * (1.0 - 0.85 * share)) as u8,
                (255.0 * (1.0 - 0.65 * share)) as u8,
                (255.0 * (1.0 - 0.25 * share)) as u8,
            );
            root.draw(&Rectangle::new(
                [(x, y), (x + cell - 1, y + cell - 1)],
                shade.filled(),
            ))
            .map_err(&err)?;
            let color = if share > 0.5 { WHITE } else { BLACK };
            let label = format!("{n}");
            let style = TextStyle::from((FONT, 16.0).into_font()).color(&color);
            root.draw(&Text::new(
                label.clone(),
                (x + cell / 2 - 5 * label.len() as i32, y + cell / 2 - 8),
                style,
            ))
            .map_err(&err)?;
        }
        root.draw(&Text::new(
            labels[i].clone(),
            (10, top + i as i32 * cell + cell / 2 - 8),
            text(15.0),
        ))
        .map_err(&err)?;
    }
    for (j, label) in labels.iter().enumerate() {
        let style = TextStyle::from((FONT, 15.0).into_font())
            .color(&BLACK)
            .transform(FontTransform::Rotate90);
        root.draw(&Text::new(
            label.clone(),
            (
                left + j as i32 * cell + cell / 2 + 6,
                top + k as i32 * cell + 6,
            ),
            style,
        ))
        .map_err(&err)?;
    }
    root.draw(&Text::new(
        "rows: true emotion · columns: predicted",
        (left, top - 24),
        text(14.0),
    ))
    .map_err(&err)?;
    root.present().map_err(&err)
}

type EpochChart<'a> =
    ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A captioned chart of epochs 1‥`epochs` against 0‥`y_max`, with its axes drawn.
fn epoch_axes<'a>(
    area: &DrawingArea<BitMapBackend<'a>, Shift>,
    caption: &str,
    epochs: usize,
    y_max: f64,
) -> Result<EpochChart<'a>, DrawingAreaErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>>
{
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 15))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(1f64..epochs as f64, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE)
        .label_style((FONT, 13))
        .draw()?;
    Ok(chart)
}

/// Learning curves of one or more runs: training and validation loss, and validation UA, per
/// epoch (one line per run, e.g. per fold).
pub fn learning_curves_png(
    path: &Path,
    title: &str,
    runs: &[(String, Vec<EpochStats>)],
) -> Result<(), String> {
    font()?;
    let err = draw_err(path);
    let root = BitMapBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let root = root.titled(title, (FONT, 20)).map_err(&err)?;
    let (loss_area, ua_area) = root.split_horizontally(600);
    let epochs = runs.iter().map(|(_, h)| h.len()).max().unwrap_or(1).max(2);
    let max_loss = runs
        .iter()
        .flat_map(|(_, h)| h.iter().flat_map(|e| [e.train_loss, e.validation_loss]))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(0.1)
        * 1.05;
    let color = |i: usize| Palette99::pick(i).to_rgba();

    let mut loss = epoch_axes(
        &loss_area,
        "loss (solid: training, dashed: validation)",
        epochs,
        max_loss,
    )
    .map_err(&err)?;
    for (i, (name, history)) in runs.iter().enumerate() {
        let c = color(i);
        loss.draw_series(LineSeries::new(
            history.iter().map(|e| (e.epoch as f64, e.train_loss)),
            c.stroke_width(2),
        ))
        .map_err(&err)?
        .label(name.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        loss.draw_series(DashedLineSeries::new(
            history
                .iter()
                .filter(|e| e.validation_loss.is_finite())
                .map(|e| (e.epoch as f64, e.validation_loss)),
            6,
            4,
            c.stroke_width(1),
        ))
        .map_err(&err)?;
    }
    loss.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(&err)?;

    let mut ua =
        epoch_axes(&ua_area, "validation UA (unweighted accuracy)", epochs, 1.0).map_err(&err)?;
    for (i, (_, history)) in runs.iter().enumerate() {
        ua.draw_series(LineSeries::new(
            history
                .iter()
                .filter(|e| e.validation_ua.is_finite())
                .map(|e| (e.epoch as f64, e.validation_ua)),
            color(i).stroke_width(2),
        ))
        .map_err(&err)?;
    }
    root.present().map_err(&err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_written_as_png() {
        // scripts/setup.sh installs DejaVu; without any font the charts cannot be drawn.
        font().unwrap();
        let dir = std::env::temp_dir().join(format!("se-charts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let labels: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let cm = dir.join("cm.png");
        confusion_png(&cm, "test", &labels, &[vec![3, 1], vec![0, 4]]).unwrap();
        let history: Vec<EpochStats> = (1..=3)
            .map(|epoch| EpochStats {
                epoch,
                learning_rate: 1e-3,
                train_loss: 2.0 / epoch as f64,
                train_accuracy: 0.5,
                validation_loss: 2.1 / epoch as f64,
                validation_ua: 0.2 * epoch as f64,
                validation_accuracy: 0.2,
                seconds: 1.0,
            })
            .collect();
        let lc = dir.join("lc.png");
        learning_curves_png(&lc, "test", &[("run".into(), history)]).unwrap();
        for p in [cm, lc] {
            let bytes = std::fs::read(&p).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{}", p.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
