//! The same-answer check: every environment must compute the same outputs
//! for the same inputs. The reference is the baseline's first output for
//! each input; every measured iteration of every environment (the
//! baseline's other repetitions included) is compared with it through
//! [`isobench_records::Digest::differs_from`].

use isobench_records::Digest;
use isobench_results::{
    EnvOutput, EnvironmentResult, InputOutputs, OutputCheck, OutputMismatch, ResultsFile, Warning,
};

/// The first output each input produced in `env`, in order of first appearance.
fn first_outputs(env: &EnvironmentResult) -> Vec<(&str, &Digest)> {
    let mut firsts: Vec<(&str, &Digest)> = Vec::new();
    for rep in &env.repetitions {
        for it in &rep.iterations {
            if let Some(digest) = &it.digest {
                if !firsts.iter().any(|(input, _)| *input == it.input) {
                    firsts.push((it.input.as_str(), digest));
                }
            }
        }
    }
    firsts
}

/// Compares every environment's outputs with the baseline's (else the
/// first environment's that has outputs); `None` when no iteration carries
/// an output digest.
pub fn check_outputs(results: &ResultsFile) -> Option<OutputCheck> {
    let reference_env = results
        .baseline_env()
        .filter(|e| !first_outputs(e).is_empty())
        .or_else(|| {
            results
                .environments
                .iter()
                .find(|e| !first_outputs(e).is_empty())
        })?;
    let reference = first_outputs(reference_env);
    let mut check = OutputCheck {
        reference: reference_env.name.clone(),
        tolerance: Digest::TOLERANCE.to_string(),
        ..OutputCheck::default()
    };
    for env in &results.environments {
        for rep in &env.repetitions {
            for it in &rep.iterations {
                let (Some(found), Some((_, expected))) = (
                    &it.digest,
                    reference.iter().find(|(input, _)| *input == it.input),
                ) else {
                    continue;
                };
                check.compared += 1;
                if let Some(reason) = expected.differs_from(found) {
                    check.mismatch_count += 1;
                    if check.mismatches.len() < OutputCheck::KEPT {
                        check.mismatches.push(OutputMismatch {
                            env: env.name.clone(),
                            round: rep.round,
                            index: it.index,
                            input: it.input.clone(),
                            reason,
                        });
                    }
                }
            }
        }
    }
    let firsts: Vec<(&str, Vec<(&str, &Digest)>)> = results
        .environments
        .iter()
        .map(|e| (e.name.as_str(), first_outputs(e)))
        .collect();
    check.by_input = reference
        .iter()
        .map(|(input, _)| InputOutputs {
            input: input.to_string(),
            outputs: firsts
                .iter()
                .filter_map(|(env, outputs)| {
                    let (_, digest) = outputs.iter().find(|(i, _)| i == input)?;
                    Some(EnvOutput {
                        env: env.to_string(),
                        output: digest.describe(),
                    })
                })
                .collect(),
        })
        .collect();
    Some(check)
}

/// The warning a reader must see when outputs differ.
pub fn mismatch_warning(check: &OutputCheck) -> Option<Warning> {
    let first = check.mismatches.first()?;
    Some(Warning::OutputsDiffer {
        reference: check.reference.clone(),
        mismatches: check.mismatch_count,
        compared: check.compared,
        first: first.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobench_records::Detection;
    use isobench_results::{IterationSample, Repetition};

    fn det(score: f32) -> Digest {
        Digest::Detections {
            count: 1,
            detections: vec![Detection {
                class: "person".into(),
                class_id: 0,
                score,
                bbox: [1.0, 2.0, 3.0, 4.0],
            }],
        }
    }

    fn env(name: &str, scores: &[f32]) -> EnvironmentResult {
        EnvironmentResult {
            repetitions: vec![Repetition {
                iterations: scores
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| IterationSample {
                        index: i as u64,
                        input: format!("img{}.jpg", i % 2),
                        digest: Some(det(s)),
                        ..IterationSample::default()
                    })
                    .collect(),
                ..Repetition::default()
            }],
            ..EnvironmentResult::new(name, 1)
        }
    }

    #[test]
    fn finds_the_environment_that_computed_something_else() {
        let mut results: ResultsFile =
            serde_json::from_str(include_str!("../tests/data/empty-results.json")).unwrap();
        results.baseline = Some("native".into());
        results.environments = vec![
            env("docker", &[0.5, 0.7, 0.5, 0.7]),
            env("native", &[0.5, 0.7, 0.5, 0.7]),
            env("gvisor", &[0.5, 0.7, 0.5, 0.9]),
        ];
        let check = check_outputs(&results).unwrap();
        assert_eq!(check.reference, "native");
        assert_eq!(check.compared, 12);
        assert_eq!(check.mismatch_count, 1);
        assert!(!check.consistent());
        let m = &check.mismatches[0];
        assert_eq!(
            (m.env.as_str(), m.index, m.input.as_str()),
            ("gvisor", 3, "img1.jpg")
        );
        assert!(matches!(
            mismatch_warning(&check),
            Some(Warning::OutputsDiffer {
                mismatches: 1,
                compared: 12,
                ..
            })
        ));
        assert_eq!(check.by_input.len(), 2);
        assert_eq!(check.by_input[0].outputs.len(), 3);
        // Within tolerance: consistent.
        results.environments[2] = env("gvisor", &[0.5, 0.7, 0.5, 0.7005]);
        assert!(check_outputs(&results).unwrap().consistent());
    }
}
