//! Line charts drawn on the server as SVG: the geometry (scales, ticks, paths) is computed here
//! and the `chart.html` macro writes it out, every label escaped like any other text. No script
//! is needed to see a chart; each point carries its exact numbers as a `<title>` (a tooltip,
//! and what a screen reader announces), and every chart has a table of the same numbers beside it.

use super::view;

/// The drawing's size in SVG units; it scales to the page's width.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One line: a group's median or 90th percentile over time.
#[derive(Debug, Clone)]
pub struct Series {
    /// The group the line belongs to (the legend's entry), and the line's own name.
    pub group: String,
    pub label: String,
    /// The group's colour (`s0`…`s5` in the style sheet); median and p90 share it.
    pub color: usize,
    /// The p90 line is dashed, the median solid.
    pub dashed: bool,
    pub points: Vec<Point>,
}

/// One value: `x` is a time (epoch ms), `y` a duration (ms).
#[derive(Debug, Clone)]
pub struct Point {
    pub x: i64,
    pub y: i64,
    /// What the point's tooltip says.
    pub title: String,
}

/// A chart ready to be written out.
#[derive(Debug, Clone)]
pub struct Chart {
    pub id: String,
    pub title: String,
    /// A sentence for screen readers: what the chart shows.
    pub description: String,
    pub view_box: String,
    pub plot: Rect,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    pub lines: Vec<Line>,
    /// Each group drawn once: (colour class, group).
    pub legend: Vec<(String, String)>,
    /// Every point drawn, for the page's tests and the caption.
    pub point_count: usize,
    /// What the legend says about the lines' styles.
    pub styles: String,
}

#[derive(Debug, Clone)]
pub struct Rect {
    pub left: String,
    pub right: String,
    pub bottom: String,
}

#[derive(Debug, Clone)]
pub struct Tick {
    /// The position along its axis, in SVG units.
    pub at: String,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    /// `s3` or `s3 p90`: the colour and, for the p90 line, the dashes.
    pub class: String,
    /// The `points` attribute of the polyline.
    pub path: String,
    pub dots: Vec<Dot>,
}

#[derive(Debug, Clone)]
pub struct Dot {
    pub cx: String,
    pub cy: String,
    pub title: String,
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// Tick steps for a duration axis, each a round number of its unit.
const STEPS_MS: &[i64] = &[
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
];

/// The smallest round step that covers `max` in at most 5 steps, and the axis top it gives.
fn duration_axis(max: i64) -> (i64, i64) {
    // Positive operands only: `i64::div_ceil` is not stable.
    let up = |a: i64, b: i64| (a + b - 1) / b;
    let max = max.max(1);
    let step = STEPS_MS
        .iter()
        .copied()
        .find(|step| up(max, *step) <= 5)
        .unwrap_or_else(|| up(up(max, 5), 86_400_000) * 86_400_000);
    (step, up(max, step) * step)
}

/// What the y axis measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Durations in ms, up to a round duration above the largest.
    Duration,
    /// Percentages in tenths (`y` 0…1000), always 0–100 %.
    Percent,
}

/// Draws `series` over the time range `[x_from, x_to)` with `x_ticks` (time, label) on the time
/// axis and round durations on the other. A chart without any point has no lines; the page shows
/// its empty state instead.
pub fn line_chart(
    id: &str,
    title: &str,
    description: &str,
    x_range: (i64, i64),
    x_ticks: &[(i64, String)],
    series: &[Series],
) -> Chart {
    let mut chart = chart_on(
        Scale::Duration,
        id,
        title,
        description,
        x_range,
        x_ticks,
        series,
    );
    chart.styles = "solid: median · dashed: 90th percentile".to_owned();
    chart
}

/// [`line_chart`] on a given scale; `styles` is left for the caller to say.
pub fn chart_on(
    scale: Scale,
    id: &str,
    title: &str,
    description: &str,
    (x_from, x_to): (i64, i64),
    x_ticks: &[(i64, String)],
    series: &[Series],
) -> Chart {
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let span = (x_to - x_from).max(1) as f64;
    let x = |t: i64| LEFT + (t - x_from) as f64 / span * plot_w;
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.y))
        .max()
        .unwrap_or(0);
    let (step, top) = match scale {
        Scale::Duration => duration_axis(max),
        Scale::Percent => (200, 1000),
    };
    let y = |v: i64| TOP + plot_h - v as f64 / top as f64 * plot_h;
    let lines: Vec<Line> = series
        .iter()
        .filter(|s| !s.points.is_empty())
        .map(|s| {
            let mut points = s.points.clone();
            points.sort_by_key(|p| p.x);
            Line {
                label: s.label.clone(),
                class: format!("s{}{}", s.color % 6, if s.dashed { " p90" } else { "" }),
                path: points
                    .iter()
                    .map(|p| format!("{},{}", fmt(x(p.x)), fmt(y(p.y))))
                    .collect::<Vec<_>>()
                    .join(" "),
                dots: points
                    .iter()
                    .map(|p| Dot {
                        cx: fmt(x(p.x)),
                        cy: fmt(y(p.y)),
                        title: p.title.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let mut legend: Vec<(String, String)> = Vec::new();
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let entry = (format!("s{}", s.color % 6), s.group.clone());
        if !legend.contains(&entry) {
            legend.push(entry);
        }
    }
    Chart {
        legend,
        id: id.to_owned(),
        title: title.to_owned(),
        description: description.to_owned(),
        view_box: format!("0 0 {WIDTH} {HEIGHT}"),
        plot: Rect {
            left: fmt(LEFT),
            right: fmt(WIDTH - RIGHT),
            bottom: fmt(TOP + plot_h),
        },
        x_ticks: x_ticks
            .iter()
            .filter(|(t, _)| (x_from..=x_to).contains(t))
            .map(|(t, label)| Tick {
                at: fmt(x(*t)),
                label: label.clone(),
            })
            .collect(),
        y_ticks: (0..=top / step)
            .map(|i| Tick {
                at: fmt(y(i * step)),
                label: match scale {
                    _ if i == 0 => "0".to_owned(),
                    Scale::Duration => view::duration(i * step),
                    Scale::Percent => format!("{} %", i * step / 10),
                },
            })
            .collect(),
        point_count: lines.iter().map(|l| l.dots.len()).sum(),
        lines,
        styles: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(i64, i64)]) -> Series {
        Series {
            group: "chat".into(),
            label: "chat median".into(),
            color: 7,
            dashed: false,
            points: points
                .iter()
                .map(|&(x, y)| Point {
                    x,
                    y,
                    title: format!("{y}"),
                })
                .collect(),
        }
    }

    #[test]
    fn duration_axes_take_round_steps_and_cover_the_largest_value() {
        assert_eq!(duration_axis(0), (1_000, 1_000));
        assert_eq!(duration_axis(4_500), (1_000, 5_000));
        assert_eq!(duration_axis(250_000), (60_000, 300_000));
        assert_eq!(duration_axis(3_600_001), (900_000, 4_500_000));
        assert_eq!(
            duration_axis(30 * 86_400_000),
            (604_800_000, 5 * 604_800_000)
        );
        let (step, top) = duration_axis(400 * 86_400_000);
        assert!(top >= 400 * 86_400_000 && top / step <= 5);
    }

    #[test]
    fn points_land_inside_the_plot_in_time_order() {
        let chart = line_chart(
            "frt",
            "First response",
            "d",
            (0, 100),
            &[(0, "a".into()), (50, "b".into()), (200, "outside".into())],
            &[series(&[(75, 2_000), (25, 4_000)]), series(&[])],
        );
        assert_eq!(chart.point_count, 2);
        assert_eq!(
            chart.lines.len(),
            1,
            "a series without points draws no line"
        );
        let line = &chart.lines[0];
        assert_eq!(line.class, "s1");
        let xs: Vec<f64> = line.dots.iter().map(|d| d.cx.parse().unwrap()).collect();
        assert!(xs[0] < xs[1], "sorted by time: {xs:?}");
        assert_eq!(line.path.split(' ').count(), 2);
        for dot in &line.dots {
            let (x, y): (f64, f64) = (dot.cx.parse().unwrap(), dot.cy.parse().unwrap());
            assert!((LEFT..=WIDTH - RIGHT).contains(&x) && (TOP..=HEIGHT - BOTTOM).contains(&y));
        }
        // 4 s is the axis top: its point touches the plot's top edge.
        assert_eq!(line.dots[0].cy, fmt(TOP));
        assert_eq!(
            chart.x_ticks.len(),
            2,
            "ticks outside the range are dropped"
        );
        assert_eq!(chart.legend, [("s1".to_owned(), "chat".to_owned())]);
        assert_eq!(chart.y_ticks.first().unwrap().label, "0");
        assert_eq!(chart.y_ticks.last().unwrap().label, "4 s");
    }

    #[test]
    fn a_percent_chart_always_spans_0_to_100() {
        let chart = chart_on(
            Scale::Percent,
            "sla",
            "SLA met",
            "d",
            (0, 100),
            &[],
            &[series(&[(25, 500), (75, 1000)])],
        );
        let labels: Vec<&str> = chart.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0", "20 %", "40 %", "60 %", "80 %", "100 %"]);
        // 100 % touches the top, 50 % is half-way down the plot.
        assert_eq!(chart.lines[0].dots[1].cy, fmt(TOP));
        assert_eq!(
            chart.lines[0].dots[0].cy,
            fmt(TOP + (HEIGHT - TOP - BOTTOM) / 2.0)
        );
    }
}
