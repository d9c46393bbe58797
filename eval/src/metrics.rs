//! Ranking metrics with trec_eval / BEIR (pytrec_eval) definitions.
//!
//! - nDCG@k: DCG = Σ_{i=1..k} gain(d_i) / log2(i + 1) with gain = graded relevance (trec_eval `ndcg_cut`, as
//!   BEIR reports); the ideal DCG sorts the query's judged documents by relevance. Documents judged 0 count as
//!   non-relevant.
//! - Recall@k: relevant documents in the top k / all relevant documents of the query.
//! - MRR@k: 1 / rank of the first relevant document within the top k, else 0.
//!
//! Rankings are lists of distinct document ids, best first; ties were already broken by the ranker.

use std::collections::HashMap;

/// Relevance judgements of one query: document id → grade (> 0 is relevant).
pub type Judgements = HashMap<String, u32>;

/// nDCG at cutoff `k`.
pub fn ndcg_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    let dcg: f64 = ranking
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, doc)| f64::from(judged.get(doc).copied().unwrap_or(0)) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<u32> = judged.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| f64::from(g) / (i as f64 + 2.0).log2())
        .sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

/// Recall at cutoff `k`.
pub fn recall_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    let relevant = judged.values().filter(|&&g| g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranking
        .iter()
        .take(k)
        .filter(|d| judged.get(*d).is_some_and(|&g| g > 0))
        .count();
    found as f64 / relevant as f64
}

/// Reciprocal rank of the first relevant document within the top `k`.
pub fn mrr_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    ranking
        .iter()
        .take(k)
        .position(|d| judged.get(d).is_some_and(|&g| g > 0))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

/// The p-th percentile (0-100) of `values` by nearest rank; 0 for an empty slice.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn judged(v: &[(&str, u32)]) -> Judgements {
        v.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    #[test]
    fn ndcg_by_hand() {
        // Relevant a (2) and b (1); ranking: x, a, b.
        // DCG = 0/log2(2) + 2/log2(3) + 1/log2(4) = 1.26186 + 0.5 = 1.76186
        // IDCG = 2/log2(2) + 1/log2(3) = 2 + 0.63093 = 2.63093
        let q = judged(&[("a", 2), ("b", 1), ("z", 0)]);
        let n = ndcg_at(&ids(&["x", "a", "b"]), &q, 10);
        assert!((n - 1.761_859 / 2.630_930).abs() < 1e-5, "{n}");
        assert!((ndcg_at(&ids(&["a", "b"]), &q, 10) - 1.0).abs() < 1e-12);
        // Cutoff 1 keeps only "x".
        assert_eq!(ndcg_at(&ids(&["x", "a"]), &q, 1), 0.0);
        // No relevant judgements: 0, not NaN.
        assert_eq!(ndcg_at(&ids(&["a"]), &judged(&[("a", 0)]), 10), 0.0);
    }

    #[test]
    fn recall_and_mrr_by_hand() {
        let q = judged(&[("a", 1), ("b", 1), ("c", 1), ("d", 0)]);
        let r = ids(&["d", "x", "b", "a"]);
        assert!((recall_at(&r, &q, 3) - 1.0 / 3.0).abs() < 1e-12);
        assert!((recall_at(&r, &q, 100) - 2.0 / 3.0).abs() < 1e-12);
        assert!((mrr_at(&r, &q, 10) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(mrr_at(&r, &q, 2), 0.0);
    }

    #[test]
    fn percentiles() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 95.0), 5.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
