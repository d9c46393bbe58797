//! [`Reranker`]: reorders retrieved hits before they become passages.
//!
//! - [`NoRerank`] keeps the index's order (the default);
//! - [`Mmr`] is maximal marginal relevance (Carbonell & Goldstein, SIGIR 1998): each next hit maximises
//!   `λ · sim(query, hit) − (1 − λ) · max sim(hit, already chosen)`, trading relevance for diversity.
//!
//! A cross-encoder reranker fits the same trait: it needs a cross-encoder model (for example
//! ms-marco-MiniLM-L-6-v2, a BERT classifier) packaged like the other models, scoring (question, chunk) pairs.

use rag_indexes::Hit;

use crate::embed::cosine;

/// Reorders hits for a query.
pub trait Reranker: Send + Sync {
    /// Returns `hits` reordered (and possibly cut) to at most `k`, best first.
    fn rerank(&self, query: &[f32], hits: Vec<Hit>, k: usize) -> Vec<Hit>;
}

/// Keeps the order the index returned.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRerank;

impl Reranker for NoRerank {
    fn rerank(&self, _query: &[f32], mut hits: Vec<Hit>, k: usize) -> Vec<Hit> {
        hits.truncate(k);
        hits
    }
}

/// Maximal marginal relevance over the hits' dense vectors.
#[derive(Debug, Clone, Copy)]
pub struct Mmr {
    /// Weight of relevance against diversity, in [0, 1]; 1 is pure relevance.
    pub lambda: f32,
}

impl Reranker for Mmr {
    fn rerank(&self, query: &[f32], mut hits: Vec<Hit>, k: usize) -> Vec<Hit> {
        let relevance: Vec<f32> = hits.iter().map(|h| cosine(query, &h.vector)).collect();
        // Highest similarity of each candidate to anything chosen so far, updated with each new choice:
        // O(k · candidates) similarity computations instead of O(k² · candidates).
        let mut redundancy = vec![0.0f32; hits.len()];
        let mut taken = vec![false; hits.len()];
        let mut order = Vec::with_capacity(k.min(hits.len()));
        while order.len() < k.min(hits.len()) {
            let Some(best) = (0..hits.len())
                .filter(|&i| !taken[i])
                .map(|i| (i, self.lambda * relevance[i] - (1.0 - self.lambda) * redundancy[i]))
                .fold(None, |acc: Option<(usize, f32)>, b| match acc {
                    Some(a) if a.1 >= b.1 => Some(a),
                    _ => Some(b),
                })
                .map(|(i, _)| i)
            else {
                break;
            };
            taken[best] = true;
            order.push(best);
            for i in 0..hits.len() {
                if !taken[i] {
                    redundancy[i] = redundancy[i].max(cosine(&hits[best].vector, &hits[i].vector));
                }
            }
        }
        let mut slots: Vec<Option<Hit>> = hits.drain(..).map(Some).collect();
        order.into_iter().filter_map(|i| slots[i].take()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rag_indexes::Payload;

    fn hit(id: u64, vector: [f32; 2]) -> Hit {
        Hit {
            id,
            score: 0.0,
            similarity: 0.0,
            vector: vector.to_vec(),
            text: String::new(),
            payload: Payload::default(),
        }
    }

    #[test]
    fn mmr_prefers_diverse_hits() {
        let query = [1.0, 0.5];
        // 1 and 2 are near-duplicates; 3 is less relevant but different.
        let hits = vec![hit(1, [1.0, 0.2]), hit(2, [1.0, 0.19]), hit(3, [0.5, 1.0])];
        let ids = |hs: Vec<Hit>| hs.into_iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(ids(NoRerank.rerank(&query, hits.clone(), 2)), vec![1, 2]);
        assert_eq!(ids(Mmr { lambda: 0.5 }.rerank(&query, hits.clone(), 2)), vec![1, 3]);
        // λ = 1 is pure relevance.
        assert_eq!(ids(Mmr { lambda: 1.0 }.rerank(&query, hits, 3))[..2], [1, 2]);
    }
}
