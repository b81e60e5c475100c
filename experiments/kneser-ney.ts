/**
 * Interpolated modified Kneser-Ney baselines on the Brown protocol (800k train / 200k valid / rest test).
 *
 *   npx tsx experiments/kneser-ney.ts [--orders 3,5] [--min-count 4] [--max-vocab N] [--out runs/kneser-ney]
 *
 * Prints a table and writes `<out>/report.md` and `<out>/metrics.json`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBrown } from './data/brown.js';
import { KneserNey } from './ngram/kneser-ney.js';

const HELP = `Usage: npx tsx experiments/kneser-ney.ts [options]

Interpolated modified Kneser-Ney n-gram perplexities on the Brown corpus protocol
(first 800,000 tokens train, next 200,000 valid, rest test; vocabulary from train).

Options:
  --orders LIST      comma-separated n-gram orders (default 3,5)
  --min-count N      vocabulary keeps train words seen at least N times (default 4)
  --max-vocab N      cap the vocabulary size, <unk> included (default: no cap)
  --out DIR          output folder (default runs/kneser-ney)
  -h, --help         show this help
`;

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

function parseIntFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got '${v}'`);
  return n;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      orders: { type: 'string', default: '3,5' },
      'min-count': { type: 'string', default: '4' },
      'max-vocab': { type: 'string' },
      out: { type: 'string', default: join('runs', 'kneser-ney') },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const orders = values.orders.split(',').map((s) => parseIntFlag('orders', s.trim()) ?? 0);
  const minCount = parseIntFlag('min-count', values['min-count']) ?? 4;
  const maxVocab = parseIntFlag('max-vocab', values['max-vocab']);

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

  const outDir = values.out;
  mkdirSync(outDir, { recursive: true });
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
  writeFileSync(join(outDir, 'report.md'), lines.join('\n'));
  const metrics = { command, minCount, maxVocab: maxVocab ?? null, loadSeconds, stats, results: rows };
  writeFileSync(join(outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  console.log(`wrote ${join(outDir, 'report.md')} and ${join(outDir, 'metrics.json')}`);
}

main();
