/**
 * The command line every experiment script shares: the same flags spelled the same way (--preset with
 * quick, --quick, --steps, --seed or --seeds, --device, --name, --resume, --out, --verbose, --help), each
 * value validated before any file is opened, and the run directory claimed (locked, stale temp files
 * removed) before the model is built.
 *
 *   const args = parseExperimentArgs({ name: 'tsx experiments/x.ts', description: '...', options: {
 *     ...EXPERIMENT_OPTIONS, preset: presetOption(['quick', 'full'], 'quick'), name: nameOption('x'), seed: SEED_OPTION } });
 *   const run = startRun('tsx experiments/x.ts', args); // runs/<name>/ locked, --out checked
 */
import { join } from 'node:path';
import { DEVICE_NAMES } from '../../core/device.js';
import { parseCli, type CliOption, type CliSpec, type CliValues } from '../report/cli.js';
import { lockRunDir, removeStaleTemps } from '../train/run-dir.js';
import { handleErrors } from './errors.js';
import { checkRunName, resolveInsideCwd } from './paths.js';

/** Flags every training experiment has (the script adds --preset, --name and --seed/--seeds below). */
export const EXPERIMENT_OPTIONS = {
  quick: { type: 'boolean', description: 'the quick preset (minutes on 2 CPU cores); same as --preset quick' },
  steps: { type: 'number', integer: true, min: 1, description: 'training steps (overrides the preset)' },
  maxVocab: { type: 'number', integer: true, min: 2, description: 'cap the vocabulary, <unk> included (overrides the preset)' },
  device: { type: 'string', choices: DEVICE_NAMES, description: 'device (default: the best that works)' },
  resume: { type: 'boolean', description: 'continue the run in runs/<name>/ from its checkpoint (same settings)' },
  allowConfigChange: { type: 'boolean', description: 'with --resume: continue even if --steps/--lr/--seed/... differ from the checkpoint\'s' },
  out: { type: 'string', description: 'also write the report and summary to this folder (inside the current directory; default runs/<name>/)' },
  verbose: { type: 'boolean', description: 'print stack traces of errors (as DEBUG=1 does)' },
} as const satisfies Record<string, CliOption>;

/** --preset with this script's presets. */
export function presetOption<const P extends string>(choices: readonly P[], defaultPreset: P, description = 'run size') {
  return { type: 'string', default: defaultPreset, choices, description } as const;
}

/** --name; outputs go to runs/<name>/ (with a default, the parsed value is always a string). */
export function nameOption(defaultName: string, description?: string): { type: 'string'; default: string; description: string };
export function nameOption(defaultName?: undefined, description?: string): { type: 'string'; description: string };
export function nameOption(defaultName?: string, description = 'run name, one folder name: outputs go to runs/<name>/') {
  return defaultName === undefined ? ({ type: 'string', description } as const) : ({ type: 'string', default: defaultName, description } as const);
}

/** --seed: one seed for weights, batches and dropout. */
export const SEED_OPTION = { type: 'number', integer: true, min: 0, default: 0, description: 'seed for weights, batches and dropout' } as const;

/** --seeds: how many seeds (0 .. n-1) to run. */
export const SEEDS_OPTION = { type: 'number', integer: true, min: 1, description: 'number of seeds, 0 .. n-1 (overrides the preset)' } as const;

/**
 * Install the error handler (usage errors exit 2, runtime errors 1, both one line), then parse `argv`.
 *
 * @example
 * const args = parseExperimentArgs({ name: 'tsx experiments/x.ts', options: { ...EXPERIMENT_OPTIONS, seed: SEED_OPTION } });
 */
export function parseExperimentArgs<const S extends CliSpec & { name: string }>(spec: S, argv: string[] = process.argv.slice(2)): CliValues<S> {
  handleErrors(spec.name);
  return parseCli(spec, argv);
}

/** The resolved run: preset, name and folders, with runs/<name>/ held by this process. */
export interface ExperimentRun {
  preset: string;
  name: string;
  /** runs/<name>, relative to the current directory. */
  runDir: string;
  /** --out, or runDir. */
  outDir: string;
}

export interface RunArgs {
  quick: boolean;
  preset: string;
  name: string | undefined;
  out: string | undefined;
}

/**
 * Check --name and --out (usage errors), then lock runs/<name>/ and remove temp files a killed run left
 * there (runtime errors). `defaultName` names the run when --name is not given.
 *
 * @example
 * const run = startRun('tsx experiments/main.ts', args, (preset) => `main-${preset}`);
 */
export function startRun(prog: string, a: RunArgs, defaultName: (preset: string) => string = (p) => p): ExperimentRun {
  return claimRun(resolveRun(prog, a, defaultName));
}

/** Lock the run directory for this process and remove stale temp files in it; returns `run`. */
export function claimRun(run: ExperimentRun): ExperimentRun {
  lockRunDir(run.runDir);
  removeStaleTemps(run.runDir);
  return run;
}

/** startRun without touching the disk: validates and resolves only. */
export function resolveRun(prog: string, a: RunArgs, defaultName: (preset: string) => string = (p) => p): ExperimentRun {
  const preset = a.quick ? 'quick' : a.preset;
  const name = checkRunName(prog, a.name ?? defaultName(preset));
  const runDir = join('runs', name);
  const outDir = a.out === undefined ? runDir : resolveInsideCwd(prog, a.out, '--out');
  return { preset, name, runDir, outDir };
}
