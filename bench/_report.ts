/**
 * Turns benchmark records into comparison tables (plain text or markdown).
 *
 * One table per benchmark. Rows: our metrics, then Python metrics that no
 * `compare` entry pairs with ours. Columns: metric | multiproc (thread) |
 * multiproc (process) | Node peers... | Python (each start method) | ratio.
 * The ratio is our best multiproc figure vs Python's best comparable figure
 * (or, for a metric Python does not have, vs the best Node peer).
 */
import type { Compare } from './_common.js';

/** One figure, as printed by a benchmark (Python's get `impl` filled in). */
export interface Rec {
  bench: string;
  metric: string;
  impl: string;
  value: number;
  unit: string;
  [extra: string]: unknown;
}

export interface Table {
  bench: string;
  header: string[];
  rows: string[][];
}

// Time units (lower is better), converted to ms so that us/ms/s compare.
const TIME_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1e3 };

/** -1: lower is better, +1: higher is better, 0: not a performance figure. */
export function direction(unit: string): -1 | 0 | 1 {
  if (unit in TIME_MS) return -1;
  if (unit.endsWith('/s')) return 1;
  return 0;
}

/** Value of r in the unit of `like` (time units convert), or null. */
function inUnit(r: Rec, like: Rec): number | null {
  if (r.unit === like.unit) return r.value;
  if (r.unit in TIME_MS && like.unit in TIME_MS) return (r.value * TIME_MS[r.unit]) / TIME_MS[like.unit];
  return null;
}

function best(values: number[], dir: number): number | null {
  const xs = values.filter((v) => Number.isFinite(v));
  if (xs.length === 0) return null;
  return dir > 0 ? Math.max(...xs) : Math.min(...xs);
}

/** "3.2× faster" / "12× slower" from ours vs theirs. */
export function ratio(ours: number, theirs: number, dir: number): string {
  if (dir === 0 || !(ours > 0) || !(theirs > 0)) return '—';
  const r = dir < 0 ? theirs / ours : ours / theirs;
  const f = (x: number) => (x >= 10 ? String(Math.round(x)) : x.toFixed(1));
  return r >= 1 ? `${f(r)}× faster` : `${f(1 / r)}× slower`;
}

/** 4 significant digits; thousands separators for big numbers. */
export function fmt(v: number | undefined | null): string {
  if (v === undefined || v === null || Number.isNaN(v)) return '—';
  if (Math.abs(v) >= 1e4) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(4)));
}

export function implLabel(impl: string): string {
  const m = /^(multiproc|python)-(.+)$/.exec(impl);
  if (m) return `${m[1] === 'python' ? 'Python' : 'multiproc'} (${m[2]})`;
  return impl === 'python' ? 'Python' : impl;
}

const isOurs = (impl: string) => impl.startsWith('multiproc');
const isPython = (impl: string) => impl === 'python' || impl.startsWith('python-');

/** Column order: multiproc thread, process, other multiproc, Node peers, Python. */
function columns(recs: Rec[]): string[] {
  const seen = [...new Set(recs.map((r) => r.impl))];
  const rank = (i: string) =>
    i === 'multiproc-thread' ? 0 : i === 'multiproc-process' ? 1 : isOurs(i) ? 2 : isPython(i) ? 4 : 3;
  return seen.sort((a, b) => rank(a) - rank(b) || seen.indexOf(a) - seen.indexOf(b));
}

export function buildTable(bench: string, ours: Rec[], python: Rec[], compare: Compare): Table {
  const cols = columns([...ours, ...python]);
  const header = ['metric', ...cols.map(implLabel), 'ratio'];
  const rows: string[][] = [];
  const paired = new Set<string>();

  for (const metric of [...new Set(ours.map((r) => r.metric))]) {
    const mine = ours.filter((r) => r.metric === metric);
    const unit = mine[0].unit;
    const dir = direction(unit);
    const theirNames = compare[metric] ?? [];
    for (const n of theirNames) paired.add(n);
    const theirs = python.filter((r) => theirNames.includes(r.metric));
    const cells = cols.map((impl) => {
      if (!isPython(impl)) return fmt(mine.find((r) => r.impl === impl)?.value);
      const vs = theirs.filter((r) => r.impl === impl).map((r) => inUnit(r, mine[0]));
      return fmt(best(vs.filter((v): v is number => v !== null), dir || -1));
    });
    const ourBest = best(mine.filter((r) => isOurs(r.impl)).map((r) => r.value), dir);
    const pyBest = best(
      theirs.map((r) => inUnit(r, mine[0])).filter((v): v is number => v !== null), dir);
    let rat = ourBest !== null && pyBest !== null ? ratio(ourBest, pyBest, dir) : '—';
    // No Python twin: against the best Node peer measured in the same run.
    const peers = mine.filter((r) => !isOurs(r.impl) && !isPython(r.impl));
    const peerBest = best(peers.map((r) => r.value), dir);
    if (pyBest === null && ourBest !== null && peerBest !== null) {
      rat = `${ratio(ourBest, peerBest, dir)} than ${peers.find((r) => r.value === peerBest)!.impl}`;
    }
    rows.push([`${metric} [${unit}]`, ...cells, rat]);
  }
  // Python figures nothing of ours is paired with (still worth seeing).
  for (const r of python) {
    if (paired.has(r.metric)) continue;
    rows.push([`${r.metric} [${r.unit}]`, ...cols.map((c) => (c === r.impl ? fmt(r.value) : '')), '—']);
  }
  return { bench, header, rows };
}

/** Plain-text table with aligned columns (numbers right-aligned). */
export function renderText(t: Table): string {
  const all = [t.header, ...t.rows];
  const w = t.header.map((_, j) => Math.max(...all.map((r) => (r[j] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, j) => (j === 0 ? c.padEnd(w[j]) : c.padStart(w[j]))).join(' | ').trimEnd();
  const sep = w.map((n) => '-'.repeat(n)).join('-+-');
  return [line(t.header), sep, ...t.rows.map(line)].join('\n');
}

export function renderMarkdown(t: Table): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const line = (r: string[]) => `| ${r.map(esc).join(' | ')} |`;
  const align = t.header.map((_, j) => (j === 0 ? ':---' : '---:'));
  return [line(t.header), `|${align.join('|')}|`, ...t.rows.map(line)].join('\n');
}
