/** The shared command line of the experiment scripts (see experiment.ts). */
export { CliError, describeError, handleErrors, InterruptedError } from './errors.js';
export { claimRun, EXPERIMENT_OPTIONS, nameOption, parseExperimentArgs, presetOption, resolveRun, SEED_OPTION, SEEDS_OPTION, startRun, type ExperimentRun, type RunArgs } from './experiment.js';
export { checkRunName, resolveInsideCwd } from './paths.js';
export { publishReport } from './publish.js';
