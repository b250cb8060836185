/**
 * channel_load: a Queue under contention, oversubscription and richer items
 * (mirrors bench/python/channel_load.py, which reuses the reference suite's
 * queue_throughput.py).
 *
 * Scenarios, for multiproc's 'thread' and 'process' contexts (Promise API
 * in the children; `sync_` rows use the Sync twins), aggregate msg/s as in
 * queue_throughput (the same timed region and children):
 *   * Queue, N producers -> N consumers of small ints, N = 1, 2, cpus,
 *     2 x cpus (capped at 16): 2N children on `cpus` CPUs, so from N = cpus/2
 *     on they oversubscribe the machine;
 *   * Queue, 1 -> 1, lists of 100 ints and small plain objects
 *     ({ id, name, score, tags });
 *   * `_same_cpu`: Queue 1 -> 1 of small ints with the whole benchmark (its
 *     threads and child processes) pinned to one CPU with `taskset -c`;
 *     Python pins itself with sched_setaffinity, which its forked children
 *     inherit.
 * Repetitions: quick 1, normal 3 (median); --reps N.
 */
import { availableParallelism } from 'node:os';
import { type Args, type Compare, emitMedian, loadMultiproc, log, median, parseArgs, reps, runIfMain, sameCpuRun, size, noWarmSpares } from './_common.js';
import { runOnce } from './queue_throughput.js';

const BENCH = 'channel_load';
const CPUS = availableParallelism();
/** Producer (and consumer) counts: 1, 2, every CPU, twice that. */
export const CONTENTION = [...new Set([1, 2, CPUS, 2 * CPUS].map((n) => Math.min(n, 16)))].sort((a, b) => a - b);

type Kind = 'int' | 'list100' | 'obj';
const payloadOf = (kind: Kind): unknown =>
  kind === 'int' ? 12345 : kind === 'list100' ? Array.from({ length: 100 }, (_, i) => i) : { id: 7, name: 'item-7', score: 0.5, tags: ['a', 'b'] };

const scenarios = (sameCpu: boolean): [tag: string, n: number, kind: Kind][] =>
  sameCpu
    ? [['Queue_1p1c_int_same_cpu', 1, 'int']]
    : [...CONTENTION.map((n): [string, number, Kind] => [`Queue_${n}p${n}c_int`, n, 'int']), ['Queue_1p1c_list100', 1, 'list100'], ['Queue_1p1c_obj', 1, 'obj']];

export const compare: Compare = {};
for (const [tag] of [...scenarios(false), ...scenarios(true)]) {
  compare[`${tag}_msgs_per_s`] = [`${tag}_msgs_per_s`];
  compare[`sync_${tag}_msgs_per_s`] = [`${tag}_msgs_per_s`];
}

async function section(mp: any, args: Args, R: number, sameCpu: boolean): Promise<void> {
  for (const method of ['thread', 'process']) {
    const ctx = mp.getContext(method);
    const impl = `multiproc-${method}`;
    for (const [tag, n, kind] of scenarios(sameCpu)) {
      const total = kind === 'int' ? size(args, 200_000, 10_000) : size(args, 50_000, 5_000);
      for (const sync of [false, true]) {
        const name = `${sync ? 'sync_' : ''}${tag}`;
        try {
          const rates: number[] = [];
          for (let r = 0; r < R; r++) {
            const [dt, count] = await runOnce(mp, ctx, 'Queue', n, n, total, payloadOf(kind), sync);
            rates.push(count / dt);
          }
          emitMedian(BENCH, `${name}_msgs_per_s`, impl, rates, 'msg/s', { n: total });
          log(`${impl} ${name}: ${median(rates).toFixed(0)} msg/s`);
        } catch (e) {
          log(`# ${impl} ${name}: FAILED: ${(e as Error)?.stack ?? e}`);
          process.exitCode = 1;
        }
      }
    }
  }
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const sameCpu = argv.includes('--same-cpu');
  const rest = argv.filter((a) => a !== '--same-cpu');
  const args = parseArgs(rest);
  noWarmSpares();
  const mp = await loadMultiproc();
  if (!mp || (typeof mp.parentProcess === 'function' && mp.parentProcess() !== null)) return;
  const R = reps(args, 3, 1);
  await section(mp, args, R, sameCpu);
  if (!sameCpu) sameCpuRun(import.meta.url, rest);
}

await runIfMain(import.meta.url, () => main());
