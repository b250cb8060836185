// multiproc/redis when Redis goes away: a private redis-server on a free
// port (so the shared one is never disturbed) is killed and restarted, and
// connections are killed with CLIENT KILL. Calls made while it is down
// reject with a clear error after retryMs; nothing hangs; once it is back,
// the same cluster works again and queued items are there. Required under
// CI=true (redis-server must be installed), skipped with one line elsewhere.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'multiproc/redis';
import { task } from 'multiproc';
import { createClient } from 'redis';
import { freePort, startHost, waitForServer } from './redis-helpers.js';

const haveServer = spawnSync('redis-server', ['--version']).status === 0;
if (!haveServer && process.env.CI === 'true') throw new Error('CI=true: the Redis outage tests need redis-server on the PATH');
if (!haveServer) console.log('# skipped: redis-server is not installed (the outage tests start a private one)');

const dir = mkdtempSync(join(tmpdir(), 'mp-redis-'));
let server: ChildProcess | null = null;
after(() => {
  server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts redis-server on `port` (append-only file in `dir`, fsync always: a restart keeps the data). */
async function startServer(port: number): Promise<void> {
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], { stdio: 'ignore' });
  await waitForServer(port);
}

async function stopServer(): Promise<void> {
  const s = server!;
  server = null;
  const gone = new Promise((r) => s.once('exit', r));
  s.kill('SIGKILL');
  await gone;
}

describe('multiproc/redis when Redis goes away', { skip: !haveServer }, () => {
  it('calls fail clearly after retryMs while Redis is down, and work resumes when it is back', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    await startServer(port);
    await using c = await connect({ url, namespace: 'outage', retryMs: 700 });
    const q = c.Queue<number>('q');
    for (let i = 0; i < 3; i++) await q.put(i);
    await stopServer();
    const t0 = Date.now();
    await assert.rejects(q.put(99), /Redis at redis:\/\/127\.0\.0\.1:\d+\/? (has been unreachable for 700 ms|broke while)/);
    assert.ok(Date.now() - t0 < 10_000, 'bounded');
    await assert.rejects(q.qsize(), /unreachable|broke/);
    await startServer(port);
    // Back: the same cluster object works again, and what was queued survived the restart.
    let size = -1;
    for (let i = 0; i < 50 && size < 0; i++) size = await q.qsize().catch(() => -1);
    assert.equal(size, 3);
    assert.deepEqual([await q.get(), await q.get(), await q.get()], [0, 1, 2]);
    await stopServer();
  });

  it('CLIENT KILL of the connections mid-run: they reconnect, nothing lost or duplicated', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    await startServer(port);
    await using c = await connect({ url, namespace: 'killed', retryMs: 5000 });
    const admin = createClient({ url });
    await admin.connect();
    const q = c.Queue<number>('q');
    const sent: number[] = [];
    for (let i = 0; i < 300; i++) {
      if (i % 50 === 25) await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']);
      try {
        await q.put(i);
        sent.push(i);
      } catch (err) {
        assert.match((err as Error).message, /broke while EVAL was in flight/); // it may have run: the caller is told
      }
    }
    const got: number[] = [];
    for (let n = await q.qsize(); n > 0; n--) got.push(await q.get());
    // Every put that succeeded arrived once, in order; a put that failed in flight arrived at most once.
    for (const i of sent) assert.equal(got.filter((x) => x === i).length, 1, `item ${i}`);
    assert.equal(new Set(got).size, got.length, 'no duplicates');
    assert.deepEqual(got, [...got].sort((a, b) => a - b));
    await admin.close();
    await stopServer();
  });

  it('Redis restarted mid-map: the worker hosts and the pool resume; every result arrives once', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    await startServer(port);
    await using c = await connect({ url, namespace: 'restart', retryMs: 20_000 });
    const host = await startHost('restart', { url, processes: 2 });
    await using pool = new c.Pool();
    const items = Array.from({ length: 400 }, (_, i) => i);
    const mapped = pool.map(task(new URL('./fixtures/cluster-tasks.ts', import.meta.url), 'square'), items, { chunksize: 1 });
    await new Promise((r) => setTimeout(r, 300));
    await stopServer();
    await new Promise((r) => setTimeout(r, 500));
    await startServer(port);
    assert.deepEqual(await mapped, items.map((x) => x * x));
    assert.equal(await host.stop(), 0);
    await stopServer();
  });
});
