/**
 * process_start: cost of starting and joining a trivial Process
 * (mirrors ../shared/bench/python/process_start.py).
 *
 * For multiproc's 'thread' and 'process' contexts, and for the raw Node peers
 * (`new Worker(code, { eval: true })`, `child_process.spawn(node -e code)`):
 *   start_call_ms    - time for start() (or the Worker/spawn call) to return
 *   child_running_ms - from before start() until the child's code runs: the
 *                      child writes process.hrtime.bigint() (CLOCK_MONOTONIC,
 *                      system-wide on Linux) into a temp file named by its
 *                      argument, and the parent compares after the join
 *   start_join_ms    - start() + join() of that child, i.e. the full lifecycle
 *                      including exit and reaping
 * Median and p90 of the repetitions; one untimed warm-up start first per impl.
 * Starts are back to back, as Python's benchmark does. multiproc boots a warm
 * spare child in the background after each start (Python's forkserver idea);
 * back to back, the next start still waits for it to finish booting. The
 * warm_* figures pause 250 ms between starts, so the spare is ready: that is
 * what a program that starts children now and then sees.
 * Repetitions: quick 10 each; normal 100 (threads) / 40 (processes); --reps N.
 */
import { Worker } from 'node:worker_threads';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Args, type Compare, emit, loadMultiproc, log, median, msBetween,
  nowNs, parseArgs, percentile, size, runIfMain } from './_common.js';

const BENCH = 'process_start';
const WHAT = ['start_call_ms', 'child_running_ms', 'start_join_ms'] as const;
const WARM_PAUSE_MS = 250;

/** Our metric -> Python's comparable metrics (one per start method). */
export const compare: Compare = {};
for (const what of WHAT) {
  for (const stat of ['median', 'p90']) {
    const python = ['fork', 'spawn', 'forkserver'].map((m) => `${m}_${what}_${stat}`);
    compare[`${what}_${stat}`] = python;
    compare[`warm_${what}_${stat}`] = python;
  }
}

/** One run: [start_call_ms, child_running_ms, start_join_ms]. */
type One = (file: string) => Promise<[number, number, number]>;

/** The multiproc target: shipped by source text, so it uses only its argument. */
async function childTarget(path: string): Promise<void> {
  const fs = await import('node:fs');
  fs.writeFileSync(path, String(process.hrtime.bigint()));
}

const readStamp = (file: string): bigint => BigInt(readFileSync(file, 'utf8').trim());

function multiprocOne(ctx: any): One {
  return async (file) => {
    const p = new ctx.Process({ target: childTarget, args: [file] });
    const t0 = nowNs();
    p.start();
    const t1 = nowNs();
    await p.join();
    const t2 = nowNs();
    if (p.exitCode !== 0) throw new Error(`child exited with exitCode ${p.exitCode}`);
    p.close?.();
    return [msBetween(t0, t1), msBetween(t0, readStamp(file)), msBetween(t0, t2)];
  };
}

// Raw Node peers: the same child work (write the stamp to the file), no library.
const WORKER_CODE = "require('node:fs').writeFileSync(require('node:worker_threads').workerData," +
  ' String(process.hrtime.bigint()))';
const SPAWN_CODE = "require('node:fs').writeFileSync(process.argv[1], String(process.hrtime.bigint()))";

const nodeWorkerOne: One = async (file) => {
  const t0 = nowNs();
  const w = new Worker(WORKER_CODE, { eval: true, workerData: file });
  const t1 = nowNs();
  const code = await new Promise<number>((res, rej) => {
    w.once('error', rej);
    w.once('exit', res);
  });
  const t2 = nowNs();
  if (code !== 0) throw new Error(`worker exited with code ${code}`);
  return [msBetween(t0, t1), msBetween(t0, readStamp(file)), msBetween(t0, t2)];
};

const nodeSpawnOne: One = async (file) => {
  const t0 = nowNs();
  const child = spawn(process.execPath, ['-e', SPAWN_CODE, file], { stdio: 'ignore' });
  const t1 = nowNs();
  const code = await new Promise<number | null>((res, rej) => {
    child.once('error', rej);
    child.once('exit', (c) => res(c));
  });
  const t2 = nowNs();
  if (code !== 0) throw new Error(`node -e exited with code ${code}`);
  return [msBetween(t0, t1), msBetween(t0, readStamp(file)), msBetween(t0, t2)];
};

/** Warm up once, then time n runs and emit median/p90 of each measure. */
async function measure(impl: string, one: One, n: number, dir: string, pauseMs = 0, prefix = ''): Promise<void> {
  let k = 0;
  const file = () => join(dir, `${impl}-${prefix}${k++}.stamp`);
  await one(file()); // untimed warm-up
  const cols: number[][] = [[], [], []];
  for (let i = 0; i < n; i++) {
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    const r = await one(file());
    r.forEach((v, j) => {
      cols[j].push(v);
    });
  }
  WHAT.forEach((what, j) => {
    emit(BENCH, `${prefix}${what}_median`, impl, median(cols[j]), 'ms', { n });
    emit(BENCH, `${prefix}${what}_p90`, impl, percentile(cols[j], 90), 'ms', { n });
  });
  log(`${impl}${prefix ? ` (${prefix.replace(/_$/, '')})` : ''}: start+join median ${median(cols[2]).toFixed(2)} ms, ` +
    `child running after ${median(cols[1]).toFixed(2)} ms`);
}

export async function main(args: Args = parseArgs()): Promise<void> {
  const mp = await loadMultiproc();
  if (mp && typeof mp.parentProcess === 'function' && mp.parentProcess() !== null) return;
  const nThread = args.reps ?? size(args, 100, 10);
  const nProc = args.reps ?? size(args, 40, 10);
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-bench-'));
  const runs: [string, () => One, number][] = [
    ['node-worker', () => nodeWorkerOne, nThread],
    ['node-spawn', () => nodeSpawnOne, nProc],
  ];
  if (mp) {
    runs.unshift(
      ['multiproc-thread', () => multiprocOne(mp.getContext('thread')), nThread],
      ['multiproc-process', () => multiprocOne(mp.getContext('process')), nProc],
    );
  }
  try {
    for (const [impl, make, n] of runs) {
      try {
        await measure(impl, make(), Math.max(1, n), dir);
        if (impl.startsWith('multiproc')) await measure(impl, make(), Math.max(1, Math.min(n, 20)), dir, WARM_PAUSE_MS, 'warm_');
      } catch (e) {
        log(`# ${impl}: FAILED: ${(e as Error)?.stack ?? e}`);
        process.exitCode = 1;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, () => main());
