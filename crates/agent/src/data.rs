//! The digits data set (scikit-learn's `digits.csv.gz`: 1797 handwritten
//! 8x8 digits, 64 integer features 0..=16 followed by the label 0..=9 per
//! line) and the fixed train/test split every workload on it uses.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use sha2::{Digest as _, Sha256};

use crate::error::AgentError;

/// Path of the data set relative to the assets directory.
pub const DIGITS_FILE: &str = "data/digits.csv.gz";
/// Features per sample (8x8 pixels).
pub const FEATURES: usize = 64;
/// Number of classes (digits 0..=9).
pub const CLASSES: usize = 10;
/// Seed of the fixed shuffle that defines the train/test split.
pub const SPLIT_SEED: u64 = 0x1505_BE7C_0D16_1750;
/// Share of samples in the test split, in percent.
pub const TEST_PERCENT: usize = 25;

/// A labelled set of digit samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Row-major features, `FEATURES` per sample, integer values 0..=16.
    pub features: Vec<u8>,
    /// One label (0..=9) per sample.
    pub labels: Vec<u8>,
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The features of sample `i`.
    pub fn row(&self, i: usize) -> &[u8] {
        &self.features[i * FEATURES..(i + 1) * FEATURES]
    }

    fn push(&mut self, row: &[u8], label: u8) {
        self.features.extend_from_slice(row);
        self.labels.push(label);
    }
}

/// The whole data set, split once into training and test samples.
#[derive(Debug, Clone)]
pub struct Digits {
    /// Training split (75 %).
    pub train: Samples,
    /// Test split (25 %).
    pub test: Samples,
    /// sha256 of the compressed file as read.
    pub file_sha256: String,
    /// The file the data came from.
    pub path: PathBuf,
}

impl Digits {
    /// Loads `assets/data/digits.csv.gz` and splits it.
    pub fn load_from_assets(assets: &Path) -> Result<Self, AgentError> {
        Self::load(&assets.join(DIGITS_FILE))
    }

    /// Loads and splits a gzip-compressed digits CSV file.
    pub fn load(path: &Path) -> Result<Self, AgentError> {
        let bytes = std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                AgentError::input(
                    path,
                    "digits data set not found; run `isobench setup` to fetch it, or pass --assets DIR holding data/digits.csv.gz",
                )
            } else {
                AgentError::io(path, e)
            }
        })?;
        let all = parse_digits_gz(&bytes).map_err(|m| AgentError::input(path, m))?;
        let (train, test) = split(&all, SPLIT_SEED, TEST_PERCENT);
        Ok(Digits {
            train,
            test,
            file_sha256: hex::encode(Sha256::digest(&bytes)),
            path: path.to_path_buf(),
        })
    }
}

/// Parses the gzip-compressed CSV; the error says what is wrong (for an
/// [`AgentError::Input`] on the file).
pub fn parse_digits_gz(bytes: &[u8]) -> Result<Samples, String> {
    parse_digits_csv(GzDecoder::new(bytes))
}

/// Parses the uncompressed CSV: every line 64 integer features 0..=16 and a
/// label 0..=9, comma-separated.
pub fn parse_digits_csv(reader: impl Read) -> Result<Samples, String> {
    let corrupt = |what: String| {
        format!("{what}; the file is corrupt, delete it and run `isobench setup` again")
    };
    let mut samples = Samples {
        features: Vec::with_capacity(1797 * FEATURES),
        labels: Vec::with_capacity(1797),
    };
    let mut row = [0u8; FEATURES];
    for (number, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(|e| {
            corrupt(format!(
                "cannot decompress or read line {}: {e}",
                number + 1
            ))
        })?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(',');
        for (i, slot) in row.iter_mut().enumerate() {
            let field = fields.next().ok_or_else(|| {
                corrupt(format!("line {} has {i} fields, expected 65", number + 1))
            })?;
            *slot = parse_value(field, 16).ok_or_else(|| {
                corrupt(format!(
                    "line {} field {} is `{field}`, expected an integer 0..=16",
                    number + 1,
                    i + 1
                ))
            })?;
        }
        let field = fields
            .next()
            .ok_or_else(|| corrupt(format!("line {} has 64 fields, expected 65", number + 1)))?;
        let label = parse_value(field, 9).ok_or_else(|| {
            corrupt(format!(
                "line {} label is `{field}`, expected a digit 0..=9",
                number + 1
            ))
        })?;
        if fields.next().is_some() {
            return Err(corrupt(format!(
                "line {} has more than 65 fields",
                number + 1
            )));
        }
        samples.push(&row, label);
    }
    if samples.len() < 20 {
        return Err(corrupt(format!(
            "only {} samples found, expected 1797",
            samples.len()
        )));
    }
    Ok(samples)
}

/// Parses an integer field (also written as `3.0`) no larger than `max`.
fn parse_value(field: &str, max: u8) -> Option<u8> {
    let field = field.trim();
    let field = field.strip_suffix(".0").unwrap_or(field);
    field.parse::<u8>().ok().filter(|v| *v <= max)
}

/// Splits `all` into (train, test) after a seeded Fisher-Yates shuffle;
/// `test_percent` of the samples (rounded up) go to the test split.
/// Deterministic: the same input and seed always give the same split.
pub fn split(all: &Samples, seed: u64, test_percent: usize) -> (Samples, Samples) {
    let mut order: Vec<usize> = (0..all.len()).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let test_len = (all.len() * test_percent).div_ceil(100);
    let empty = || Samples {
        features: Vec::new(),
        labels: Vec::new(),
    };
    let (mut train, mut test) = (empty(), empty());
    for (n, &i) in order.iter().enumerate() {
        let target = if n < test_len { &mut test } else { &mut train };
        target.push(all.row(i), all.labels[i]);
    }
    (train, test)
}

/// SplitMix64: a tiny, well-known 64-bit PRNG (Steele, Lea, Flood 2014).
/// Used for the split, weight initialisation and batch shuffling so the
/// results never depend on a crate's algorithm choice.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(rows: usize) -> String {
        (0..rows)
            .map(|r| {
                let mut f: Vec<String> = (0..64).map(|i| ((i + r) % 17).to_string()).collect();
                f.push((r % 10).to_string());
                f.join(",") + "\n"
            })
            .collect()
    }

    #[test]
    fn splitmix_matches_reference_values() {
        // Reference output of SplitMix64 seeded with 0 (from the paper's C code).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn parses_and_splits_deterministically() {
        let all = parse_digits_csv(csv(100).as_bytes()).unwrap();
        assert_eq!(all.len(), 100);
        assert_eq!(all.row(1)[0], 1);
        let (train, test) = split(&all, 7, 25);
        assert_eq!((train.len(), test.len()), (75, 25));
        assert_eq!(split(&all, 7, 25), (train.clone(), test.clone()));
        assert_ne!(split(&all, 8, 25).1, test);
        let mut seen: Vec<u8> = train
            .features
            .iter()
            .chain(&test.features)
            .copied()
            .collect();
        let mut orig = all.features.clone();
        seen.sort_unstable();
        orig.sort_unstable();
        assert_eq!(seen, orig, "the split is a permutation of the data");
    }

    #[test]
    fn rejects_bad_rows_with_line_numbers() {
        let mut text = csv(30);
        text.push_str("1,2,3\n");
        let err = parse_digits_csv(text.as_bytes()).unwrap_err();
        assert!(err.contains("line 31 has 3 fields"), "{err}");
        let bad = csv(30).replacen("0,", "99,", 1);
        let err = parse_digits_csv(bad.as_bytes()).unwrap_err();
        assert!(err.contains("line 1 field 1 is `99`"), "{err}");
        let err = parse_digits_gz(b"not gzip at all").unwrap_err();
        assert!(err.contains("corrupt"), "{err}");
    }
}
