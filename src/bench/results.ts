/**
 * Benchmark results: one row per (workload, metric), splitblk's figure beside its reference's
 * and their ratio. `ratio` is always splitblk ÷ reference; `better` says which way is good
 * (requests/s: higher; latency and notifications per request: lower). A workload that failed
 * is one row with metric `error`, null figures and the message, so the JSON stays valid and
 * complete whatever broke.
 */
import { writeFileSync } from 'node:fs';

export type Better = 'higher' | 'lower';

export interface BenchRow {
  workload: string;
  metric: string;
  splitblk: number | null;
  reference: number | null;
  ratio: number | null;
  /** What the reference is (e.g. "C ring-ref", "fio io_uring"). */
  'reference-name'?: string;
  better?: Better;
  unit?: string;
  /** Why there is no figure (a failure or a skipped workload). */
  error?: string;
  note?: string;
}

const round = (n: number): number => {
  const digits = Math.abs(n) >= 100 ? 1 : Math.abs(n) >= 1 ? 2 : 4;
  return Math.round(n * 10 ** digits) / 10 ** digits;
};

/** A measured row; a zero or missing reference gives a null ratio. */
export function row(
  workload: string,
  metric: string,
  splitblk: number,
  reference: number | null,
  referenceName: string,
  better: Better,
  unit: string,
  note?: string,
): BenchRow {
  const ratio = reference === null || reference === 0 || !Number.isFinite(splitblk) ? null : round(splitblk / reference);
  return {
    workload,
    metric,
    splitblk: round(splitblk),
    reference: reference === null ? null : round(reference),
    ratio,
    'reference-name': referenceName,
    better,
    unit,
    ...(note === undefined ? {} : { note }),
  };
}

export function failedRow(workload: string, error: unknown): BenchRow {
  const message = error instanceof Error ? error.message : String(error);
  return { workload, metric: 'error', splitblk: null, reference: null, ratio: null, error: message.split('\n').slice(0, 6).join(' | ') };
}

export function skippedRow(workload: string, why: string): BenchRow {
  return { workload, metric: 'skipped', splitblk: null, reference: null, ratio: null, error: why };
}

const fmt = (n: number | null): string => (n === null ? '—' : n >= 1000 ? Math.round(n).toLocaleString('en-US') : String(n));

/** The markdown table of bench/results.md. */
export function markdownTable(rows: readonly BenchRow[], header: string): string {
  const lines = [
    header,
    '',
    '| workload | metric | splitblk | reference | ratio | better | reference is |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
  ];
  for (const r of rows) {
    const metric = r.unit === undefined ? r.metric : `${r.metric} (${r.unit})`;
    if (r.error !== undefined) {
      lines.push(`| ${r.workload} | ${metric} | — | — | — | | ${r.error.replace(/\|/g, '\\|')} |`);
      continue;
    }
    lines.push(`| ${r.workload} | ${metric} | ${fmt(r.splitblk)} | ${fmt(r.reference)} | ${r.ratio === null ? '—' : r.ratio.toFixed(2)} | ${r.better ?? ''} | ${r['reference-name'] ?? ''}${r.note === undefined ? '' : ` (${r.note})`} |`);
  }
  return lines.join('\n') + '\n';
}

/** Write results.json (an array of rows) and results.md into `dir`. */
export function writeResults(dir: string, rows: readonly BenchRow[], header: string): { json: string; md: string } {
  const json = `${dir}/results.json`;
  const md = `${dir}/results.md`;
  writeFileSync(json, JSON.stringify(rows, null, 2) + '\n');
  writeFileSync(md, markdownTable(rows, header));
  return { json, md };
}
