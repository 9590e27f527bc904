//! Training curves as a self-contained SVG: loss on the left axis, accuracy
//! on the right, one point per epoch.

use std::fmt::Write as _;

/// One epoch's figures.
#[derive(Debug, Clone, Copy)]
pub struct EpochPoint {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
}

impl EpochPoint {
    /// The points as checkpoint metadata (JSON rows of
    /// `[epoch, train_loss, train_accuracy, test_accuracy]`), so that a resumed
    /// run draws the whole curve.
    pub fn to_metadata(points: &[EpochPoint]) -> String {
        let rows: Vec<[f64; 4]> = points
            .iter()
            .map(|p| {
                [
                    p.epoch as f64,
                    p.train_loss,
                    p.train_accuracy,
                    p.test_accuracy,
                ]
            })
            .collect();
        serde_json::to_string(&rows).unwrap_or_default()
    }

    /// [`to_metadata`](Self::to_metadata)'s points back (none when absent or
    /// unreadable: the curve then starts at the resumed epoch).
    pub fn from_metadata(text: Option<&str>) -> Vec<EpochPoint> {
        let rows: Vec<[f64; 4]> = text
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        rows.iter()
            .map(|r| EpochPoint {
                epoch: r[0] as usize,
                train_loss: r[1],
                train_accuracy: r[2],
                test_accuracy: r[3],
            })
            .collect()
    }
}

/// Renders the curves of `points` with `title` as an SVG document.
pub fn svg(title: &str, points: &[EpochPoint]) -> String {
    let (w, h) = (720.0, 420.0);
    let (left, right, top, bottom) = (70.0, 70.0, 50.0, 60.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let n = points.len().max(1);
    let max_loss = points
        .iter()
        .map(|p| p.train_loss)
        .fold(0.0f64, f64::max)
        .max(1e-6)
        * 1.1;
    let lo_acc = points
        .iter()
        .flat_map(|p| [p.train_accuracy, p.test_accuracy])
        .fold(1.0f64, f64::min)
        .clamp(0.0, 0.9);
    let x = |i: usize| {
        left + if n == 1 {
            pw / 2.0
        } else {
            pw * i as f64 / (n - 1) as f64
        }
    };
    let y_loss = |v: f64| top + ph * (1.0 - v / max_loss);
    let y_acc = |v: f64| top + ph * (1.0 - (v - lo_acc) / (1.0 - lo_acc).max(1e-6));

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="16">{}</text>"#,
        w / 2.0,
        escape(title)
    );
    // Grid and axes.
    for k in 0..=5 {
        let yy = top + ph * k as f64 / 5.0;
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{yy}" x2="{}" y2="{yy}" stroke="#e0e0e0"/>"##,
            left + pw
        );
        let lv = max_loss * (1.0 - k as f64 / 5.0);
        let av = lo_acc + (1.0 - lo_acc) * (1.0 - k as f64 / 5.0);
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end" fill="#c0392b">{lv:.3}</text>"##,
            left - 6.0,
            yy + 4.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" fill="#2471a3">{:.1}%</text>"##,
            left + pw + 6.0,
            yy + 4.0,
            100.0 * av
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#555"/>"##
    );
    for (i, p) in points.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x(i),
            top + ph + 18.0,
            p.epoch
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">epoch</text>"#,
        left + pw / 2.0,
        h - 15.0
    );
    type Series<'a> = (&'a str, &'a str, Box<dyn Fn(&EpochPoint) -> f64 + 'a>);
    let series: [Series<'_>; 3] = [
        (
            "train loss",
            "#c0392b",
            Box::new(|p: &EpochPoint| y_loss(p.train_loss)),
        ),
        (
            "train accuracy",
            "#7fb3d5",
            Box::new(|p: &EpochPoint| y_acc(p.train_accuracy)),
        ),
        (
            "test accuracy",
            "#1a5276",
            Box::new(|p: &EpochPoint| y_acc(p.test_accuracy)),
        ),
    ];
    for (k, (name, color, f)) in series.iter().enumerate() {
        let pts: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), f(p)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            pts.join(" ")
        );
        for pt in &pts {
            let (px, py) = pt.split_once(',').expect("x,y");
            let _ = writeln!(s, r#"<circle cx="{px}" cy="{py}" r="3" fill="{color}"/>"#);
        }
        let lx = left + 10.0 + 160.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{}" x2="{}" y2="{}" stroke="{color}" stroke-width="3"/>"#,
            h - 35.0,
            lx + 20.0,
            h - 35.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{name}</text>"#,
            lx + 25.0,
            h - 31.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
