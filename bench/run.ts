/**
 * Benchmark runner: `npm run bench -- [options]` (= node --import tsx bench/run.ts).
 * Our benchmarks are compiled with tsc into build/bench/ and run with plain
 * `node`, as a user's compiled program runs: children then do not pay for a
 * TypeScript loader at start-up.
 *
 * For each selected benchmark NAME (bench/benchmarks.ts), one after the other:
 *   1. ours:   node --import tsx bench/NAME.ts [--quick] [--reps N]   (a fresh process)
 *   2. Python: python3 NAME.py [--quick] [--reps N]   in ../shared/bench/python
 *              (relative to the repo root; else $MULTIPROC_PY_BENCH)
 * then prints a comparison table (see bench/_report.ts).
 *
 * Options:
 *   --quick             smaller sizes / fewer repetitions
 *   --only A[,B]        run only these benchmarks
 *   --reps N            passed through to every benchmark
 *   --json              only JSON lines {bench, metric, impl, value, unit, ...} on stdout
 *   --markdown [FILE]   markdown tables: to FILE if given, else to stdout instead of text
 *   --no-python         skip the Python reference
 *   --timeout S         per-script time limit in seconds (default 900)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, arch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { BENCHMARKS, moduleFile, pythonFile } from './benchmarks.js';
import { buildTable, renderMarkdown, renderText, type Rec, type Table } from './_report.js';
import type { Compare } from './_common.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);

interface Opts {
  quick: boolean;
  only: string[];
  reps: string | null;
  json: boolean;
  markdown: string | true | null;
  python: boolean;
  timeoutS: number;
}

function usage(): never {
  const src = fileURLToPath(import.meta.url);
  process.stderr.write(`usage: npm run bench -- [--quick] [--only A,B] [--reps N] [--json] ` +
    `[--markdown [FILE]] [--no-python] [--timeout S]\nbenchmarks: ` +
    `${BENCHMARKS.map((b) => b.name).join(', ')}\n(see ${src})\n`);
  process.exit(2);
}

function parseOpts(argv: string[]): Opts {
  const o: Opts = { quick: false, only: [], reps: null, json: false, markdown: null, python: true, timeoutS: 900 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i] ?? usage();
    switch (flag) {
      case '--quick': o.quick = true; break;
      case '--json': o.json = true; break;
      case '--no-python': o.python = false; break;
      case '--only': o.only = value().split(',').filter(Boolean); break;
      case '--reps': o.reps = value(); break;
      case '--timeout': o.timeoutS = Number(value()); break;
      case '--markdown':
        // Optional FILE: the next argument, unless it is another option.
        if (inline !== undefined) o.markdown = inline;
        else if (argv[i + 1] && !argv[i + 1].startsWith('--')) o.markdown = argv[++i];
        else o.markdown = true;
        break;
      default: usage();
    }
  }
  if (o.reps !== null && !/^\d+$/.test(o.reps)) usage();
  const unknown = o.only.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}\n`);
    usage();
  }
  return o;
}

/** The Python reference folder, or null (with the reason). */
function findPython(): { dir: string | null; why: string; version: string } {
  const candidates = [resolve(ROOT, '../shared/bench/python'), process.env.MULTIPROC_PY_BENCH];
  const dir = candidates.find((d) => d && existsSync(join(d, '_common.py'))) ?? null;
  const v = spawnSync('python3', ['--version'], { encoding: 'utf8' });
  const version = v.status === 0 ? (v.stdout || v.stderr).trim().replace(/^Python /, '') : '';
  if (!version) return { dir: null, why: 'python3 not found', version };
  if (!dir) return { dir: null, why: 'Python benchmarks not found (../shared/bench/python, $MULTIPROC_PY_BENCH)', version };
  return { dir, why: '', version };
}

let current: ReturnType<typeof spawn> | null = null;
process.on('SIGINT', () => {
  // Children run in their own process group: take the whole group down.
  if (current?.pid) try { process.kill(-current.pid, 'SIGKILL'); } catch { /* gone */ }
  process.exit(130);
});

/** Run one script; collect its JSON lines, forward its stderr (prefixed) live. */
async function runScript(
  label: string, cmd: string, args: string[], cwd: string, timeoutS: number,
): Promise<{ recs: Record<string, unknown>[]; ok: boolean; wallS: number }> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  current = child;
  const recs: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const s = line.trim();
    if (!s.startsWith('{')) return s && process.stderr.write(`# ${label}: ${s}\n`);
    try { recs.push(JSON.parse(s)); } catch { process.stderr.write(`# ${label}: bad JSON: ${s}\n`); }
  });
  // stderr: forwarded live, but a line repeated (same text, any pid) only once.
  const seen = new Set<string>();
  let repeats = 0;
  createInterface({ input: child.stderr! }).on('line', (l) => {
    const key = l.replace(/\(node:\d+\)/, '(node)');
    if (seen.has(key)) return void repeats++;
    seen.add(key);
    process.stderr.write(`# ${label}: ${l.replace(/^# /, '')}\n`);
  });
  const timer = setTimeout(() => {
    process.stderr.write(`# ${label}: timed out after ${timeoutS} s, killing it\n`);
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
  }, timeoutS * 1000);
  const code = await new Promise<number | null>((res) => {
    child.once('error', (e) => { process.stderr.write(`# ${label}: ${e.message}\n`); res(-1); });
    child.once('close', (c) => res(c));
  });
  clearTimeout(timer);
  current = null;
  if (repeats) process.stderr.write(`# ${label}: (${repeats} repeated stderr lines not shown)\n`);
  if (code !== 0) process.stderr.write(`# ${label}: FAILED (exit ${code})\n`);
  return { recs, ok: code === 0, wallS: (performance.now() - t0) / 1000 };
}

/** Normalize a record: numbers only, impl filled in (Python's from start_method). */
function toRec(r: Record<string, unknown>, defaultImpl: string): Rec | null {
  if (typeof r.bench !== 'string' || typeof r.metric !== 'string' || typeof r.value !== 'number') return null;
  const impl = typeof r.impl === 'string' ? r.impl
    : defaultImpl === 'python' && typeof r.start_method === 'string' ? `python-${r.start_method}` : defaultImpl;
  const { bench, metric, value, unit, ...extra } = r;
  delete extra.impl;
  return { bench, metric, impl, value, unit: String(unit ?? ''), ...extra };
}

function machineLine(o: Opts, pyVersion: string): string {
  const c = cpus();
  const model = c[0]?.model?.replace(/\s+/g, ' ').trim() ?? '?';
  return `# node ${process.version} · ${platform()} ${arch()} · ${c.length} cpus (${model}) · ` +
    `loadavg ${loadavg().map((x) => x.toFixed(2)).join(' ')} · ` +
    `python ${pyVersion || 'n/a'} · mode ${o.quick ? 'quick' : 'normal'}` +
    (o.reps ? ` · reps ${o.reps}` : '');
}

async function main(): Promise<void> {
  const o = parseOpts(process.argv.slice(2));
  const py = findPython();
  // With --json, or markdown on stdout, everything else goes to stderr.
  const quiet = o.json || o.markdown === true;
  const info = (s: string) => (quiet ? process.stderr : process.stdout).write(s + '\n');
  const machine = machineLine(o, py.version);
  info(machine);
  const usePython = o.python && py.dir !== null;
  if (o.python && !usePython) info(`# note: ${py.why}; showing multiproc figures only`);

  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(BENCH_DIR, 'tsconfig.json')], { encoding: 'utf8' });
  if (tsc.status !== 0) {
    process.stderr.write(`# compiling the benchmarks failed:\n${tsc.stdout}${tsc.stderr}`);
    process.exit(1);
  }
  const compiledDir = join(ROOT, 'build', 'bench');

  const flags = [...(o.quick ? ['--quick'] : []), ...(o.reps ? ['--reps', o.reps] : [])];
  const selected = o.only.length ? BENCHMARKS.filter((b) => o.only.includes(b.name)) : BENCHMARKS;
  const tables: { t: Table; note: string }[] = [];
  let failed = 0;

  for (const b of selected) {
    // Ours first, in a fresh Node process.
    const modPath = join(BENCH_DIR, moduleFile(b));
    const compiled = join(compiledDir, moduleFile(b).replace(/\.ts$/, '.js'));
    const ours = await runScript(`${b.name} (node)`, process.execPath, [compiled, ...flags], ROOT, o.timeoutS);
    // Then Python's, never concurrently with ours.
    // A Python twin of our own (a path with a folder) runs from the repo, in the reference folder.
    const script = pythonFile(b);
    const scriptPath = script && usePython ? (script.includes('/') ? resolve(ROOT, script) : join(py.dir!, script)) : null;
    const pyRun = scriptPath && existsSync(scriptPath)
      ? await runScript(`${b.name} (python)`, 'python3', [scriptPath, ...flags], py.dir!, o.timeoutS)
      : null;
    failed += Number(!ours.ok) + Number(pyRun ? !pyRun.ok : 0);

    const ourRecs = ours.recs.map((r) => toRec(r, 'multiproc')).filter((r): r is Rec => r !== null);
    const pyRecs = (pyRun?.recs ?? []).map((r) => toRec(r, 'python')).filter((r): r is Rec => r !== null);
    if (o.json) {
      for (const r of [...ourRecs, ...pyRecs]) process.stdout.write(JSON.stringify(r) + '\n');
      continue;
    }
    const mod = await import(pathToFileURL(modPath).href).catch(() => ({}));
    const compare: Compare = (mod as { compare?: Compare }).compare ?? {};
    const t = buildTable(b.name, ourRecs, pyRecs, compare);
    const note = `wall: ours ${ours.wallS.toFixed(1)} s` +
      (pyRun ? `, Python ${pyRun.wallS.toFixed(1)} s` : '') + ` — ${b.about}`;
    tables.push({ t, note });
    if (o.markdown !== true) info(`\n## ${b.name}  (${note})\n${t.rows.length ? renderText(t) : '(no figures)'}`);
  }

  if (o.markdown !== null && !o.json) {
    const md = [`_${machine.replace(/^# /, '')}_`, '',
      ...tables.flatMap(({ t, note }) => [`### ${t.bench}`, '', `_${note}_`, '', renderMarkdown(t), ''])].join('\n');
    if (o.markdown === true) process.stdout.write(md);
    else {
      writeFileSync(o.markdown, md);
      info(`# markdown written to ${o.markdown}`);
    }
  }
  if (o.python && !usePython && !o.json) info(`# (Python columns absent: ${py.why})`);
  process.exitCode = failed ? 1 : 0;
}

await main();
