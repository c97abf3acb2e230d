//! What an experiment does with running instances: one module per mode,
//! each with its subcommand. Instances come from [`crate::lifecycle`].

pub mod batch;
pub mod cold_start;
pub mod density;
pub mod interference;
pub mod serving;

use isobench_results::{Experiment, ResultsFile};

use crate::context::RunContext;
use crate::HarnessError;

/// Adds a mode's section to `results.json` in the output directory: loads
/// the file (or starts one for this experiment, with no batch design when
/// there is none), lets `update` change it, and saves it atomically. The
/// modes that are not `run` (serving, cold start, interference) keep their
/// results this way.
pub(crate) fn update_results(
    ctx: &RunContext,
    update: impl FnOnce(&mut ResultsFile),
) -> Result<(), HarnessError> {
    let path = crate::context::output_results(&ctx.config.common.output)?;
    let mut file = match ResultsFile::load(&path) {
        Ok(file) => file,
        Err(_) if !path.exists() => ResultsFile::new(
            Experiment {
                iterations: None,
                warmup: 0,
                repetitions: None,
                ..batch::experiment_of(&ctx.config)
            },
            ctx.host.clone(),
            ctx.identity.clone(),
            crate::host::git_revision(),
        ),
        Err(source) => return Err(HarnessError::ResultsInTheWay { source }),
    };
    update(&mut file);
    Ok(file.save_atomic(&path)?)
}
