//! Experiment files: reading, checking and layering them over the defaults
//! never panics (an error is a value).
#![no_main]
use isobench_harness::ExperimentConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("fuzz-experiment-{}.toml", std::process::id()));
    if std::fs::write(&path, data).is_ok() {
        let _ = ExperimentConfig::from_experiment_file(&path);
        let _ = std::fs::remove_file(&path);
    }
});
