//! What a long recording says over time, in a form people read: the windows' probabilities
//! smoothed over a few seconds, the segments where one emotion holds, and the share of speech
//! time each emotion has. The page, its exports and `trainer predict` all take them from here.

use crate::timeline::{WindowResult, argmax, mean_probabilities};
use serde::Serialize;

/// Probabilities are averaged over the speech windows whose centres lie within this span.
pub const SMOOTH_SECONDS: f64 = 5.0;
/// A pause without speech at least this long ends a segment.
pub const GAP_SECONDS: f64 = 2.0;
/// Shorter runs of one emotion join a neighbour: below the smoothing span, nothing holds.
pub const MIN_SEGMENT_SECONDS: f64 = SMOOTH_SECONDS;

/// A stretch of the recording where one emotion holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    /// Seconds from the start of the recording.
    pub start: f64,
    pub end: f64,
    pub label: String,
    /// The emotion's mean smoothed probability over the segment.
    pub confidence: f32,
}

fn centre(w: &WindowResult) -> f64 {
    (w.start + w.end) / 2.0
}

/// Each speech window's probabilities averaged with those of the speech windows whose centres
/// lie within [`SMOOTH_SECONDS`] around its own; `None` where the window had no speech.
pub fn smoothed(windows: &[WindowResult]) -> Vec<Option<Vec<f32>>> {
    windows
        .iter()
        .map(|w| {
            w.probabilities.as_ref()?;
            let c = centre(w);
            let near: Vec<&Vec<f32>> = windows
                .iter()
                .filter(|v| (centre(v) - c).abs() <= SMOOTH_SECONDS / 2.0)
                .filter_map(|v| v.probabilities.as_ref())
                .collect();
            Some(mean_probabilities(&near))
        })
        .collect()
}

/// The stretch of time window `i` of `windows` stands for: from halfway to the previous
/// window's centre to halfway to the next one's (the recording's first and last windows reach
/// its start and end).
fn cell(windows: &[WindowResult], i: usize) -> (f64, f64) {
    let c = centre(&windows[i]);
    let start = match i {
        0 => windows[0].start,
        _ => (centre(&windows[i - 1]) + c) / 2.0,
    };
    let end = match windows.get(i + 1) {
        Some(next) => (c + centre(next)) / 2.0,
        None => windows[i].end,
    };
    (start, end)
}

/// A run of speech windows with one label: their indices, and whether it follows the run before
/// without a pause of [`GAP_SECONDS`].
struct Run {
    label: usize,
    windows: Vec<usize>,
    touches_previous: bool,
}

/// The segments of the smoothed timeline: runs of speech windows with the same most probable
/// emotion, ended by another emotion or by a pause of [`GAP_SECONDS`] or more. A run shorter
/// than [`MIN_SEGMENT_SECONDS`] that touches another joins the longer of its neighbours (and
/// neighbours of one emotion that then touch become one): shorter than the smoothing span, it is
/// not an emotion that holds. A run alone between pauses stays, however short.
pub fn segments(windows: &[WindowResult], labels: &[String]) -> Vec<Segment> {
    let smooth = smoothed(windows);
    let mut runs: Vec<Run> = Vec::new();
    let mut last_speech_end = f64::NEG_INFINITY;
    for (i, p) in smooth.iter().enumerate() {
        let Some(p) = p else { continue };
        let (start, end) = cell(windows, i);
        let top = argmax(p);
        let touches = start - last_speech_end < GAP_SECONDS;
        match runs.last_mut() {
            Some(run) if run.label == top && touches => run.windows.push(i),
            _ => runs.push(Run {
                label: top,
                windows: vec![i],
                touches_previous: touches,
            }),
        }
        last_speech_end = end;
    }
    let span = |r: &Run| {
        let (start, _) = cell(windows, r.windows[0]);
        let (_, end) = cell(windows, *r.windows.last().expect("a run has a window"));
        (start, end)
    };
    let length = |r: &Run| {
        let (start, end) = span(r);
        end - start
    };
    loop {
        // The shortest run under the minimum that touches a neighbour.
        let short = (0..runs.len())
            .filter(|&i| length(&runs[i]) < MIN_SEGMENT_SECONDS)
            .filter(|&i| {
                runs[i].touches_previous || runs.get(i + 1).is_some_and(|n| n.touches_previous)
            })
            .min_by(|&a, &b| length(&runs[a]).total_cmp(&length(&runs[b])));
        let Some(i) = short else { break };
        let before = runs[i].touches_previous.then(|| i - 1);
        let after = runs
            .get(i + 1)
            .is_some_and(|n| n.touches_previous)
            .then_some(i + 1);
        let into = match (before, after) {
            (Some(b), Some(a)) if length(&runs[a]) > length(&runs[b]) => a,
            (Some(b), _) => b,
            (None, Some(a)) => a,
            (None, None) => unreachable!("filtered on a touching neighbour"),
        };
        let run = runs.remove(i);
        let into = if into > i { into - 1 } else { into };
        if into < i {
            runs[into].windows.extend(run.windows);
        } else {
            let mut ws = run.windows;
            ws.append(&mut runs[into].windows);
            runs[into].windows = ws;
            runs[into].touches_previous = run.touches_previous;
        }
        // Neighbours of one emotion that now touch are one segment.
        let mut j = 1;
        while j < runs.len() {
            if runs[j].touches_previous && runs[j].label == runs[j - 1].label {
                let next = runs.remove(j);
                runs[j - 1].windows.extend(next.windows);
            } else {
                j += 1;
            }
        }
    }
    runs.iter()
        .map(|r| {
            let (start, end) = span(r);
            let sum: f32 = r
                .windows
                .iter()
                .filter_map(|&i| smooth[i].as_ref().map(|p| p[r.label]))
                .sum();
            Segment {
                start,
                end,
                label: labels.get(r.label).cloned().unwrap_or_default(),
                confidence: sum / r.windows.len() as f32,
            }
        })
        .collect()
}

/// The share of speech time each emotion holds (one value per label, summing to 1 when there
/// is speech): the time of the segments where it is the emotion.
pub fn shares(segments: &[Segment], labels: &[String]) -> Vec<f32> {
    let mut time = vec![0f64; labels.len()];
    for s in segments {
        if let Some(i) = labels.iter().position(|l| *l == s.label) {
            time[i] += s.end - s.start;
        }
    }
    let total: f64 = time.iter().sum();
    time.iter()
        .map(|t| if total > 0.0 { (t / total) as f32 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["calm", "angry"].map(String::from).to_vec()
    }

    /// Windows of 3 s every second; `p[i]` is window i's probability of "angry", `None` no
    /// speech.
    fn windows(p: &[Option<f32>]) -> Vec<WindowResult> {
        p.iter()
            .enumerate()
            .map(|(i, a)| WindowResult {
                start: i as f64,
                end: i as f64 + 3.0,
                level_dbfs: -20.0,
                label: None,
                probabilities: a.map(|a| vec![1.0 - a, a]),
                adaptable: None,
            })
            .collect()
    }

    #[test]
    fn a_lone_flicker_is_smoothed_away_and_a_change_of_emotion_kept() {
        // Calm for ten windows with one angry window in the middle, then angry for ten.
        let mut p = vec![Some(0.1); 10];
        p[5] = Some(0.9);
        p.extend(vec![Some(0.9); 10]);
        let s = segments(&windows(&p), &labels());
        assert_eq!(
            s.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
            ["calm", "angry"]
        );
        // The change falls between the calm and the angry windows (centres 10.5 and 11.5 s),
        // within a window of where it is.
        assert!((s[0].end - 11.0).abs() <= 1.0, "{:?}", s);
        assert_eq!(s[0].end, s[1].start);
        assert_eq!((s[0].start, s[1].end), (0.0, 22.0));
        assert!(s.iter().all(|s| s.confidence > 0.5 && s.confidence <= 1.0));
        let shares = shares(&s, &labels());
        assert!((shares.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((shares[0] - s[0].end as f32 / 22.0).abs() < 1e-6);
    }

    #[test]
    fn a_long_pause_ends_a_segment_and_a_short_one_does_not() {
        let mut p = vec![Some(0.9); 4];
        p.push(None); // one silent window: the same segment goes on
        p.extend(vec![Some(0.9); 4]);
        p.extend(vec![None; 4]); // four: a new segment
        p.extend(vec![Some(0.9); 4]);
        let s = segments(&windows(&p), &labels());
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s.iter().all(|s| s.label == "angry"));
        assert!(s[0].end < s[1].start);
    }

    #[test]
    fn a_short_run_joins_its_longer_neighbour_unless_it_stands_alone() {
        // Calm for 12 windows, angry for 3 (too short), calm for 8; then a pause and 2 angry
        // windows alone.
        let mut p = vec![Some(0.05); 12];
        p.extend(vec![Some(0.99); 3]);
        p.extend(vec![Some(0.05); 8]);
        p.extend(vec![None; 4]);
        p.extend(vec![Some(0.95); 2]);
        let w = windows(&p);
        let s = segments(&w, &labels());
        assert_eq!(
            s.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
            ["calm", "angry"],
            "{s:?}"
        );
        assert_eq!(s[0].start, 0.0);
        // The calm segment's confidence counts the absorbed windows' calm probability too.
        assert!(s[0].confidence < 0.95 && s[0].confidence > 0.5, "{s:?}");
        assert!(s[1].end - s[1].start < MIN_SEGMENT_SECONDS);
    }

    #[test]
    fn no_speech_no_segments() {
        let w = windows(&[None, None, None]);
        assert!(segments(&w, &labels()).is_empty());
        assert!(smoothed(&w).iter().all(Option::is_none));
        assert_eq!(shares(&[], &labels()), vec![0.0, 0.0]);
    }
}
