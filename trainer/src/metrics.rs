//! Classification metrics from a confusion matrix.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub label: String,
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub n: usize,
    pub accuracy: f64,
    /// Unweighted accuracy: mean per-class recall.
    pub ua: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

pub fn confusion(truth: &[usize], predicted: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        m[t][p] += 1;
    }
    m
}

impl Metrics {
    pub fn from_confusion(confusion: Vec<Vec<usize>>, labels: &[String]) -> Self {
        let k = confusion.len();
        let n: usize = confusion.iter().flatten().sum();
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassMetrics> = (0..k)
            .map(|c| {
                let support: usize = confusion[c].iter().sum();
                let predicted: usize = (0..k).map(|r| confusion[r][c]).sum();
                let precision = ratio(confusion[c][c], predicted);
                let recall = ratio(confusion[c][c], support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassMetrics {
                    label: labels[c].clone(),
                    support,
                    precision,
                    recall,
                    f1,
                }
            })
            .collect();
        let present: Vec<&ClassMetrics> = per_class.iter().filter(|c| c.support > 0).collect();
        let mean = |f: &dyn Fn(&ClassMetrics) -> f64| {
            present.iter().map(|c| f(c)).sum::<f64>() / present.len().max(1) as f64
        };
        Self {
            n,
            accuracy: ratio(correct, n),
            ua: mean(&|c| c.recall),
            macro_f1: mean(&|c| c.f1),
            weighted_f1: per_class
                .iter()
                .map(|c| c.f1 * c.support as f64)
                .sum::<f64>()
                / n.max(1) as f64,
            per_class,
            confusion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_a_known_confusion() {
        let labels: Vec<String> = vec!["a".into(), "b".into()];
        // truth a: 3 right, 1 wrong; truth b: 2 right.
        let m = Metrics::from_confusion(vec![vec![3, 1], vec![0, 2]], &labels);
        assert_eq!(m.n, 6);
        assert!((m.accuracy - 5.0 / 6.0).abs() < 1e-12);
        assert!((m.ua - (0.75 + 1.0) / 2.0).abs() < 1e-12);
        let f1_a = 2.0 * 1.0 * 0.75 / 1.75;
        let f1_b = 2.0 * (2.0 / 3.0) * 1.0 / (5.0 / 3.0);
        assert!((m.macro_f1 - (f1_a + f1_b) / 2.0).abs() < 1e-12);
        assert!((m.weighted_f1 - (4.0 * f1_a + 2.0 * f1_b) / 6.0).abs() < 1e-12);
    }
}
