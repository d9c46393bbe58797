//! A synthetic corpus for the ingest benchmark at scale: `n` short plain-text documents (maintenance notes of
//! 40 to 120 words drawn from a fixed vocabulary), 1,000 per folder, reproducible from a seed.

use std::io::Write;
use std::path::Path;

const SUBJECTS: &[&str] = &[
    "pump",
    "valve",
    "compressor",
    "boiler",
    "chiller",
    "filter",
    "motor",
    "gearbox",
    "conveyor",
    "turbine",
    "heat exchanger",
    "cooling tower",
    "sensor",
    "controller",
    "tank",
    "pipeline",
    "bearing",
    "seal",
    "fan",
    "transformer",
];
const ACTIONS: &[&str] = &[
    "was inspected",
    "was cleaned",
    "was replaced",
    "showed vibration",
    "ran hot",
    "leaked at the flange",
    "tripped on overload",
    "was recalibrated",
    "was lubricated",
    "passed the pressure test",
    "needs a new gasket",
    "was realigned",
    "reported a fault code",
    "was restarted",
    "was isolated for repair",
];
const DETAILS: &[&str] = &[
    "during the night shift",
    "after the storm",
    "before the audit",
    "on the north line",
    "in hall B",
    "at 6 bar",
    "at 80 degrees",
    "for the third time this month",
    "according to the logbook",
    "as the manual requires",
    "with the spare from stock",
    "under the service contract",
];

/// A small deterministic generator (xorshift64*), so the corpus is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// An endless, deterministic stream of maintenance-log sentences ("The pump of unit 412 was inspected
/// according to the logbook."), the text of generated corpora.
pub fn sentences(seed: u64) -> impl Iterator<Item = String> {
    let mut rng = Rng(seed.max(1));
    std::iter::from_fn(move || {
        let unit = rng.next() % 900 + 100;
        Some(format!(
            "The {} of unit {unit} {} {}.",
            rng.pick(SUBJECTS),
            rng.pick(ACTIONS),
            rng.pick(DETAILS)
        ))
    })
}

/// Writes `n` documents under `out` (`out/NNN/doc-NNNNNN.txt`); returns the bytes written.
pub fn write_corpus(out: &Path, n: usize, seed: u64) -> std::io::Result<u64> {
    let mut rng = Rng(seed.max(1));
    let mut bytes = 0u64;
    for i in 0..n {
        let dir = out.join(format!("{:03}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        let target = 40 + (rng.next() % 81) as usize;
        let mut text = format!("Maintenance note {i}\n\n");
        let mut words = 0;
        while words < target {
            let unit = rng.next() % 900 + 100;
            let sentence = format!(
                "The {} of unit {unit} {} {}. ",
                rng.pick(SUBJECTS),
                rng.pick(ACTIONS),
                rng.pick(DETAILS)
            );
            words += sentence.split_whitespace().count();
            text.push_str(&sentence);
        }
        text.push('\n');
        let mut file = std::fs::File::create(dir.join(format!("doc-{i:06}.txt")))?;
        file.write_all(text.as_bytes())?;
        bytes += text.len() as u64;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_reproducible_and_foldered() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let n = write_corpus(a.path(), 1500, 7).unwrap();
        assert_eq!(write_corpus(b.path(), 1500, 7).unwrap(), n);
        let first = std::fs::read_to_string(a.path().join("000/doc-000000.txt")).unwrap();
        assert_eq!(
            first,
            std::fs::read_to_string(b.path().join("000/doc-000000.txt")).unwrap()
        );
        assert!(a.path().join("001/doc-001499.txt").is_file());
        let words = first.split_whitespace().count();
        assert!((40..=160).contains(&words), "{words}");
    }
}
