// Turns the runs of scripts/results.sh (OUT/runs/NAME/{run,eval}.json) into the markdown
// tables of RESULTS.md: per configuration (runs named CONFIG-sSEED), the mean ± sample
// standard deviation over seeds of the mean Dice, HD95 and ASD, for the full pipeline and the
// coarse head alone, then per-class Dice of the full pipeline.
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
 * @typedef {{run: any, summary: Summary, coarse: Summary, names: string[]}} Run
 */

/** @type {Map<string, Run[]>} */
const configs = new Map();
const runsDir = join(out, 'runs');
for (const name of readdirSync(runsDir).sort()) {
  const evalPath = join(runsDir, name, 'eval.json');
  if (!existsSync(evalPath)) continue;
  const run = JSON.parse(readFileSync(join(runsDir, name, 'run.json'), 'utf8'));
  const report = JSON.parse(readFileSync(evalPath, 'utf8'));
  const config = name.replace(/-s\d+$/, '');
  const list = configs.get(config) ?? [];
  list.push({
    run,
    summary: report.summary,
    coarse: report.coarse_summary,
    names: report.class_names,
  });
  configs.set(config, list);
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

const lines = [];
lines.push('| configuration | seeds | pipeline | mean Dice | HD95 (vox) | ASD (vox) | train s/run |');
lines.push('|---|---|---|---|---|---|---|');
for (const [config, runs] of configs) {
  const seconds = spread(runs.map((r) => r.run.train_seconds), 0);
  for (const [pipeline, key] of [
    ['full', 'summary'],
    ['coarse head', 'coarse'],
  ]) {
    const s = runs.map((r) => r[/** @type {'summary'|'coarse'} */ (key)]);
    lines.push(
      `| ${config} | ${runs.length} | ${pipeline} | ${spread(s.map((x) => x.dice))} | ` +
        `${spread(s.map((x) => x.hd95), 2)} | ${spread(s.map((x) => x.asd), 2)} | ${seconds} |`,
    );
  }
}
lines.push('');
lines.push('Per-class Dice (mean ± sd over seeds), full pipeline / coarse head:');
lines.push('');
for (const [config, runs] of configs) {
  const names = runs[0].names;
  const classes = runs[0].summary.per_class.map((c) => c.class);
  lines.push(`- ${config}: ` +
    classes
      .map((c) => {
        const pick = (/** @type {Summary} */ s) => s.per_class.find((p) => p.class === c)?.dice ?? NaN;
        return `${names[c] ?? c} ${spread(runs.map((r) => pick(r.summary)))} / ` +
          `${spread(runs.map((r) => pick(r.coarse)))}`;
      })
      .join('; '));
}
console.log(lines.join('\n'));
