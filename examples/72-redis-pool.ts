// Scaling out a Pool on Redis: a coordinator's cluster.Pool, run by two `multiproc worker` hosts (a word count).
//
// On real machines, each worker host runs (with this file deployed alike):
//   npx multiproc worker --redis redis://10.0.0.5:6379 --namespace example-72 --processes 4
// and the coordinator is this program. Run alone (as `npm start` does), it
// starts two worker commands itself, standing in for two machines, and stops
// them (SIGTERM: they finish their tasks and leave) at the end. Without a
// Redis server it says so. The Pool code is the local Pool's: only the
// import and `new cluster.Pool()` differ.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainProcess, task } from 'multiproc';
import { connect } from 'multiproc/redis';

/** The task: word counts of some lines (a module task, so the hosts need no --allow-source). */
export function countWords(lines: string[]): { counts: Record<string, number>; host: string } {
  const counts: Record<string, number> = {};
  for (const line of lines) for (const word of line.split(' ')) counts[word] = (counts[word] ?? 0) + 1;
  return { counts, host: process.env.EXAMPLE_HOST ?? '?' };
}

/** 200,000 lines of text from a small vocabulary (deterministic), in blocks of 2,000. */
function corpus(): string[][] {
  const words = ['pool', 'queue', 'lock', 'pipe', 'value', 'array', 'manager', 'event', 'barrier', 'redis'];
  let state = 7;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
  const lines = Array.from({ length: 200_000 }, () => Array.from({ length: 12 }, () => words[next() % words.length]).join(' '));
  const blocks: string[][] = [];
  for (let i = 0; i < lines.length; i += 2000) blocks.push(lines.slice(i, i + 2000));
  return blocks;
}

/** `multiproc worker` of this package (in an application: `npx multiproc worker`); resolves once it joined. */
function startHost(name: string, namespace: string): Promise<ChildProcess> {
  const cli = join(dirname(fileURLToPath(import.meta.resolve('multiproc'))), 'cli', 'multiproc.js');
  const host = spawn(process.execPath, ['--import', 'tsx', cli, 'worker', '--namespace', namespace, '--processes', '2'], {
    env: { ...process.env, EXAMPLE_HOST: name },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  return new Promise((resolve) => host.stderr.once('data', () => resolve(host))); // ("multiproc worker …: 2 thread children on …")
}

async function main(): Promise<void> {
  const namespace = `example-72-${process.pid}`;
  let cluster: Awaited<ReturnType<typeof connect>>;
  try {
    cluster = await connect({ namespace, connectTimeoutMs: 1000 });
  } catch (err) {
    console.log(`no Redis to scale out on: ${(err as Error).message}`);
    return;
  }
  await using _ = cluster;
  const hosts = await Promise.all([startHost('A', namespace), startHost('B', namespace)]);
  const pool = new cluster.Pool();
  const t0 = Date.now();
  const parts = await pool.map<string[], ReturnType<typeof countWords>>(task(import.meta.url, 'countWords'), corpus(), { chunksize: 1 });
  const total: Record<string, number> = {};
  const blocksPerHost: Record<string, number> = {};
  for (const { counts, host } of parts) {
    for (const [word, n] of Object.entries(counts)) total[word] = (total[word] ?? 0) + n;
    blocksPerHost[host] = (blocksPerHost[host] ?? 0) + 1;
  }
  pool.close();
  await pool.join();
  await Promise.all(hosts.map((h) => new Promise((r) => (h.kill('SIGTERM'), h.once('exit', r)))));
  const top = Object.entries(total).sort((a, b) => b[1] - a[1]).slice(0, 3);
  console.log(`${Object.values(total).reduce((a, b) => a + b)} words in ${Date.now() - t0} ms; top: ${top.map(([w, n]) => `${w} ${n}`).join(', ')}`);
  console.log(`blocks per host: ${Object.entries(blocksPerHost).map(([h, n]) => `${h} ${n}`).sort().join(', ')}`);
}

// A worker host's children import this module for countWords: only the program itself runs main().
if (isMainProcess()) await main();
