//! Experiment files: parsing and resolving never panic.
#![no_main]
use isobench_harness::config::Overrides;
use isobench_harness::ExperimentConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(overrides) = toml::from_str::<Overrides>(text) {
        let _ = ExperimentConfig::resolve(overrides);
    }
});
