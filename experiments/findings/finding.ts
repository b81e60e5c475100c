/**
 * One settled finding: findings/<study>/report.md (setup, command, per-seed table, interval, verdict, SVG
 * plots) and findings/<study>/summary.json, the machine-readable line README's Findings section links to.
 *
 * The verdict comes from `verdict()` in ./stats.ts applied to the paired interval, never from a script's
 * own wording, so a report cannot claim more than its interval shows.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fmt, ReportWriter } from '../report/markdown.js';
import { writeJsonAtomic } from '../report/metrics.js';
import { formatInterval, verdict as verdictOf, type PairedInterval, type Verdict } from './stats.js';

export const FINDINGS_ROOT = 'findings';

/** What a study measured for one treatment-vs-baseline comparison. */
export interface Comparison {
  /** The paper's claim in one sentence, as tested here. */
  claim: string;
  /** What is compared, e.g. "test perplexity (CMHA - RoPE)". */
  metric: string;
  unit: string;
  /** Which side of no-difference the claim predicts for treatment vs baseline. */
  better: 'lower' | 'higher';
  /** The claim's margin when it states one (e.g. 1.04 for "~4% higher perplexity"); default: no difference. */
  threshold?: number;
  interval: PairedInterval;
}

export interface FindingSummary {
  study: string;
  claim: string;
  verdict: Verdict | 'target met' | 'target not met';
  metric: string;
  unit: string;
  effect: number;
  null: number;
  ci95: [number, number] | null;
  /** The claim's margin, when the verdict is taken against it rather than against `null`. */
  threshold?: number;
  seeds: number[];
  steps: number;
  command: string;
  wallSeconds: number;
  machine: string;
  /** Further comparisons of the same study (secondary metrics), each with its own interval and verdict. */
  secondary?: { claim: string; metric: string; unit: string; effect: number; null: number; ci95: [number, number] | null; threshold?: number; verdict: Verdict }[];
  [extra: string]: unknown;
}

/** The machine in one line: CPU model, cores, memory, Node, load average when called. */
export function machineLine(): string {
  const c = cpus();
  return `${c[0]?.model.trim() ?? 'unknown CPU'}, ${c.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${loadavg()[0].toFixed(2)}`;
}

/**
 * The command that reproduces this run, as quoted in a report: the script and its arguments, without
 * `--resume` (rerunning from scratch gives the same numbers; resuming only skips finished runs).
 * @example commandLine('experiments/findings/vq-logits.ts'); // "npx tsx experiments/findings/vq-logits.ts --seeds 3"
 */
export function commandLine(script: string, argv: readonly string[] = process.argv.slice(2)): string {
  return `npx tsx ${script}${argv.filter((a) => a !== '--resume').map((a) => ` ${a}`).join('')}`;
}

/** The summary for a primary comparison (and any secondary ones): the verdict is computed here. */
export function summarize(
  study: string,
  primary: Comparison,
  run: { seeds: number[]; steps: number; command: string; wallSeconds: number; machine?: string },
  secondary: Comparison[] = [],
  extra: Record<string, unknown> = {},
): FindingSummary {
  return {
    study,
    claim: primary.claim,
    verdict: verdictOf(primary.interval, primary.better, primary.threshold),
    metric: primary.metric,
    unit: primary.unit,
    effect: primary.interval.effect,
    null: primary.interval.null,
    ci95: primary.interval.ci95,
    ...(primary.threshold !== undefined ? { threshold: primary.threshold } : {}),
    seeds: run.seeds,
    steps: run.steps,
    command: run.command,
    wallSeconds: run.wallSeconds,
    machine: run.machine ?? machineLine(),
    secondary: secondary.map((c) => ({
      claim: c.claim, metric: c.metric, unit: c.unit, effect: c.interval.effect, null: c.interval.null, ci95: c.interval.ci95,
      ...(c.threshold !== undefined ? { threshold: c.threshold } : {}),
      verdict: verdictOf(c.interval, c.better, c.threshold),
    })),
    ...extra,
  };
}

/** A report for a finding, opened with the verdict table; the caller adds setup, per-seed tables and plots. */
export function findingReport(summary: FindingSummary, title: string, comparisons: Comparison[]): ReportWriter {
  const r = new ReportWriter(summary.study, { root: FINDINGS_ROOT, title });
  r.paragraph(
    `Command: \`${summary.command}\` (${fmt(summary.wallSeconds / 60, 3)} min wall on ${summary.machine}). ` +
      (typeof summary.pairing === 'string'
        ? summary.pairing
        : `Seeds ${summary.seeds.join(', ')}; each seed is one pair: treatment and baseline share the initialisation seed, ` +
          `the data order${summary.pretraining ? ' and the pretraining run' : ''}.`),
  );
  r.heading('Verdict').table(
    ['claim', 'metric', 'effect [95% CI]', 'tested against', 'verdict'],
    comparisons.map((c) => [
      c.claim, `${c.metric} (${c.unit})`, formatInterval(c.interval),
      c.threshold !== undefined ? `margin ${c.threshold}` : `no difference (${c.interval.null})`, `**${verdictOf(c.interval, c.better, c.threshold)}**`,
    ]),
  );
  r.paragraph(
    'Rule: the effect is the mean over seeds of the paired difference treatment - baseline (for a ratio, the ' +
      'geometric mean of the paired ratios), with a 95% Student-t interval over the seeds. "supported" only when the ' +
      'whole interval lies on the side the claim predicts of no difference (or of the claim\'s stated margin, where it states one), ' +
      '"not supported" when it lies wholly on the other side, ' +
      'otherwise "inconclusive" (also with a single seed, which has no interval).',
  );
  return r;
}

/** Write report.md (with its SVGs) and summary.json under findings/<study>/; returns the report path. */
export function writeFinding(summary: FindingSummary, report: ReportWriter): string {
  const file = report.write();
  writeJsonAtomic(join(FINDINGS_ROOT, summary.study, 'summary.json'), summary);
  return file;
}
