// No leaks in a long-running program: a queue or a pipe made per child,
// hundreds of times (test/fixtures/channel-per-child.mjs, in a process of its
// own), leaves the descriptors, RSS and /dev/shm as they were. (A file of its
// own: each file has its own time budget.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { assertNoChildrenLeftAfter, fixture, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

/** Per context and kind: a leak of one descriptor a round shows far beyond the slack of 4. */
const ROUNDS = 100;

describe('a queue or a pipe per child, hundreds of times', () => {
  for (const method of methods) {
    for (const kind of ['queue', 'pipe']) {
      it(`leaves the descriptors, RSS and /dev/shm as they were [${method}, ${kind}]`, { timeout: 120_000 }, async () => {
        const r = spawnSync(process.execPath, ['--expose-gc', fixture('channel-per-child.mjs'), method, kind, String(ROUNDS)], { encoding: 'utf8', timeout: 110_000 });
        assert.equal(r.status, 0, r.stderr);
        const { before, after } = JSON.parse(r.stdout.trim().split('\n').pop()!);
        assert.ok(after.fds <= before.fds + 4, `descriptors grew over ${ROUNDS} rounds: ${before.fds} -> ${after.fds}`);
        assert.ok(after.shm <= before.shm, `/dev/shm grew: ${before.shm} -> ${after.shm}`);
        assert.ok(after.rssMb < before.rssMb + 64, `RSS grew: ${before.rssMb.toFixed(0)} -> ${after.rssMb.toFixed(0)} MiB`);
      });
    }
  }
});
