/**
 * Interpolated modified Kneser-Ney baselines on the Brown protocol (800k train / 200k valid / rest test).
 *
 *   npx tsx experiments/kneser-ney.ts [--quick] [--orders 3,5] [--min-count 4] [--max-vocab N] [--name kneser-ney] [--out DIR]
 *
 * Prints a table and writes report.md and metrics.json to runs/<name>/ (or --out).
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../core/fsutil.js';
import { claimRun, CliError, EXPERIMENT_OPTIONS, nameOption, parseExperimentArgs, presetOption, resolveRun } from './cli/index.js';
import { loadBrown } from './data/brown.js';
import { KneserNey } from './ngram/kneser-ney.js';

const PROG = 'tsx experiments/kneser-ney.ts';
/** quick: the vocabulary of the main job's quick preset (2,000 words); full: the protocol's. */
const PRESET_VOCAB = { quick: 2000, full: undefined } as const;

/** One row of the report. */
interface Row {
  order: number;
  validPerplexity: number;
  testPerplexity: number;
  trainSeconds: number;
  scoreSeconds: number;
  ngrams: number[];
  discounts: [number, number, number][];
}

function main(): void {
  const values = parseExperimentArgs({
    name: PROG,
    description: 'Interpolated modified Kneser-Ney n-gram perplexities on the Brown corpus protocol (first 800,000 tokens train, next 200,000 valid, rest test; vocabulary from train).',
    options: {
      quick: { type: 'boolean', description: 'vocabulary capped at 2,000 words (as the main job\'s quick preset); same as --preset quick' },
      preset: presetOption(['quick', 'full'], 'full', 'vocabulary size (full: train words seen at least --min-count times)'),
      orders: { type: 'string', default: '3,5', description: 'comma-separated n-gram orders' },
      minCount: { type: 'number', integer: true, min: 1, default: 4, description: 'vocabulary keeps train words seen at least N times' },
      maxVocab: EXPERIMENT_OPTIONS.maxVocab,
      name: nameOption('kneser-ney'),
      out: { type: 'string', description: 'write the report and metrics here instead (inside the current directory; default runs/<name>/)' },
      verbose: EXPERIMENT_OPTIONS.verbose,
    },
  });
  const orders = values.orders.split(',').map((s) => Number(s.trim()));
  if (orders.some((n) => !Number.isInteger(n) || n < 1)) throw new CliError(`${PROG}: option --orders expects whole numbers >= 1 separated by commas, got '${values.orders}'`);
  const run = resolveRun(PROG, values, () => 'kneser-ney');
  const minCount = values.minCount;
  const maxVocab = values.maxVocab ?? PRESET_VOCAB[run.preset as keyof typeof PRESET_VOCAB];
  claimRun(run);

  const t0 = performance.now();
  const corpus = loadBrown({ minCount, maxVocab });
  const loadSeconds = (performance.now() - t0) / 1000;
  const { stats } = corpus;
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  console.log(
    `Brown: vocab ${stats.vocabSize} (min-count ${minCount}${maxVocab ? `, max-vocab ${maxVocab}` : ''}), ` +
      `tokens train/valid/test ${stats.train.tokens}/${stats.valid.tokens}/${stats.test.tokens}, ` +
      `OOV ${pct(stats.train.oovRate)}/${pct(stats.valid.oovRate)}/${pct(stats.test.oovRate)} ` +
      `(loaded in ${loadSeconds.toFixed(1)} s)`,
  );

  const rows: Row[] = [];
  for (const order of orders) {
    const t1 = performance.now();
    const model = KneserNey.train(corpus.train, order, corpus.vocab.size);
    const t2 = performance.now();
    const valid = model.perplexity(corpus.valid);
    const test = model.perplexity(corpus.test);
    const t3 = performance.now();
    const row: Row = {
      order,
      validPerplexity: valid.perplexity,
      testPerplexity: test.perplexity,
      trainSeconds: (t2 - t1) / 1000,
      scoreSeconds: (t3 - t2) / 1000,
      ngrams: model.ngrams,
      discounts: model.discounts,
    };
    rows.push(row);
    console.log(
      `n=${order}: valid ppl ${row.validPerplexity.toFixed(2)}, test ppl ${row.testPerplexity.toFixed(2)} ` +
        `(train ${row.trainSeconds.toFixed(1)} s, score ${row.scoreSeconds.toFixed(1)} s)`,
    );
  }

  const outDir = run.outDir;
  const command = `npx tsx experiments/kneser-ney.ts ${process.argv.slice(2).join(' ')}`.trim();
  const lines = [
    '# Interpolated modified Kneser-Ney baselines (Brown)',
    '',
    `Command: \`${command}\``,
    '',
    'Protocol: Brown files ca01..cr09 in sorted order, tags stripped, lowercased, punctuation kept; first',
    '800,000 tokens train, next 200,000 valid, rest test; vocabulary = train words seen at least',
    `${minCount} times${maxVocab ? ` (capped at ${maxVocab})` : ''} plus <unk>. Valid and test are each scored as one continuous stream,`,
    '<unk> as an ordinary token, every token scored (the first n-1 with shorter histories).',
    '',
    '| order | valid ppl | test ppl | vocab | OOV train | OOV valid | OOV test | train s | score s |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.order} | ${r.validPerplexity.toFixed(2)} | ${r.testPerplexity.toFixed(2)} | ${stats.vocabSize} | ` +
        `${pct(stats.train.oovRate)} | ${pct(stats.valid.oovRate)} | ${pct(stats.test.oovRate)} | ` +
        `${r.trainSeconds.toFixed(1)} | ${r.scoreSeconds.toFixed(1)} |`,
    ),
    '',
    'Discounts [D1, D2, D3+] per level (unigram first) and distinct n-grams per level:',
    '',
    ...rows.map(
      (r) =>
        `- n=${r.order}: ${r.discounts.map((d) => `[${d.map((x) => x.toFixed(3)).join(', ')}]`).join(' ')}; ` +
        `n-grams ${r.ngrams.join(' / ')}`,
    ),
    '',
  ];
  writeFileAtomic(join(outDir, 'report.md'), lines.join('\n'));
  const metrics = { command, minCount, maxVocab: maxVocab ?? null, loadSeconds, stats, results: rows };
  writeFileAtomic(join(outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  console.log(`wrote ${join(outDir, 'report.md')} and ${join(outDir, 'metrics.json')}`);
}

main();
