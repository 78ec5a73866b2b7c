// Turns the runs of scripts/results.sh (OUT/runs/NAME/{run.json, eval-SPLIT[-lcc].json}) into
// the markdown tables of RESULTS.md: per split (test first: the reported numbers; then val,
// where settings are chosen) and per configuration (runs named CONFIG-sSEED), the mean ±
// sample standard deviation over seeds of the mean Dice, HD95 and ASD of the full pipeline
// (with the clean-up where the run was scored with it) and of the coarse head alone, then the
// per-class Dice of the full pipeline and the coarse head.
// Usage: node scripts/results-table.mjs OUT_DIR

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) {
  console.error('usage: node scripts/results-table.mjs OUT_DIR');
  process.exit(2);
}

/**
 * @typedef {{dice: number, hd95: number, asd: number, per_class: {class: number, dice: number}[]}} Summary
 * @typedef {{summary: Summary, coarse_summary: Summary, class_names: string[]}} Report
 * @typedef {{run: {train_seconds: number}, plain: Report, cleaned: Report | null}} Run
 */

/**
 * The runs scored on one split, grouped by configuration.
 * @param {string} split `val` or `test`
 * @returns {Map<string, Run[]>}
 */
function runsOn(split) {
  /** @type {Map<string, Run[]>} */
  const configs = new Map();
  const runsDir = join(out, 'runs');
  for (const name of readdirSync(runsDir).sort()) {
    const dir = join(runsDir, name);
    const plainPath = join(dir, `eval-${split}.json`);
    if (!existsSync(join(dir, 'run.json')) || !existsSync(plainPath)) continue;
    const cleanedPath = join(dir, `eval-${split}-lcc.json`);
    const config = name.replace(/-s\d+$/, '');
    const list = configs.get(config) ?? [];
    list.push({
      run: JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')),
      plain: JSON.parse(readFileSync(plainPath, 'utf8')),
      cleaned: existsSync(cleanedPath) ? JSON.parse(readFileSync(cleanedPath, 'utf8')) : null,
    });
    configs.set(config, list);
  }
  return configs;
}

/**
 * Mean ± sample standard deviation over the finite values.
 * @param {number[]} values
 * @param {number} [digits] decimals shown
 */
function spread(values, digits = 3) {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return 'n/a';
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  if (v.length === 1) return `${mean.toFixed(digits)}`;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
  return `${mean.toFixed(digits)} ± ${sd.toFixed(digits)}`;
}

/**
 * The summaries a table row reads, by pipeline; `null` where a run lacks them.
 * @type {[string, (r: Run) => Summary | null][]}
 */
const pipelines = [
  ['full', (r) => r.plain.summary],
  ['full + largest component', (r) => r.cleaned?.summary ?? null],
  ['coarse head', (r) => r.plain.coarse_summary],
];

const lines = [];
for (const split of ['test', 'val']) {
  const configs = runsOn(split);
  if (configs.size === 0) continue;
  lines.push(`### ${split === 'test' ? 'Test split (reported)' : 'Validation split (for choosing)'}`);
  lines.push('');
  lines.push('| configuration | seeds | pipeline | mean Dice | HD95 (vox) | ASD (vox) | train s/run |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const [config, runs] of configs) {
    const seconds = spread(runs.map((r) => r.run.train_seconds), 0);
    for (const [pipeline, pick] of pipelines) {
      const s = runs.map(pick);
      if (s.some((x) => x === null)) continue;
      const got = /** @type {Summary[]} */ (s);
      lines.push(
        `| ${config} | ${runs.length} | ${pipeline} | ${spread(got.map((x) => x.dice))} | ` +
          `${spread(got.map((x) => x.hd95), 2)} | ${spread(got.map((x) => x.asd), 2)} | ${seconds} |`,
      );
    }
  }
  lines.push('');
  lines.push('Per-class Dice (mean ± sd over seeds), full pipeline / coarse head:');
  lines.push('');
  for (const [config, runs] of configs) {
    const names = runs[0].plain.class_names;
    const classes = runs[0].plain.summary.per_class.map((c) => c.class);
    /** @param {Summary} s @param {number} c */
    const classDice = (s, c) => s.per_class.find((p) => p.class === c)?.dice ?? NaN;
    lines.push(
      `- ${config}: ` +
        classes
          .map(
            (c) =>
              `${names[c] ?? c} ${spread(runs.map((r) => classDice(r.plain.summary, c)))} / ` +
              `${spread(runs.map((r) => classDice(r.plain.coarse_summary, c)))}`,
          )
          .join('; '),
    );
  }
  lines.push('');
}
console.log(lines.join('\n'));
