import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mp from 'multiproc';
import { getAllStartMethods, getContext, getStartMethod, setStartMethod, Process, ProcessError } from 'multiproc';
import { assertNoChildrenLeftAfter } from './helpers.ts';

assertNoChildrenLeftAfter();

describe('contexts', () => {
  it("lists 'thread' and 'process'; the default is 'thread'", () => {
    assert.deepEqual(getAllStartMethods(), ['thread', 'process']);
    assert.equal(getStartMethod(), 'thread');
    assert.equal(getContext().startMethod, 'thread');
  });

  it('a context exposes the names of the package root', () => {
    const ctx = getContext('process');
    for (const name of Object.keys(mp)) {
      if (name.startsWith('_') || name === 'ParentProcess' || name === 'getContext') continue;
      assert.ok(name in ctx, `context lacks ${name}`);
    }
    assert.equal(ctx.getStartMethod(), 'process');
    assert.equal(getContext('process'), ctx);
  });

  it("a context's Process starts children of its kind and is still a Process", async () => {
    for (const method of ['thread', 'process'] as const) {
      const P = getContext(method).Process;
      assert.equal(P.name, 'Process');
      const p = new P({ target: () => {} });
      assert.ok(p instanceof Process);
      assert.equal(p.startMethod, method);
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      if (method === 'process') assert.notEqual(p.pid, process.pid);
    }
  });

  it('the context option accepts a name or a context object', () => {
    assert.equal(new Process({ target: () => {}, context: 'process' }).startMethod, 'process');
    assert.equal(new Process({ target: () => {}, context: getContext('process') }).startMethod, 'process');
  });

  it('in a child, getStartMethod() is the method that started it, whatever the parent\'s default', { timeout: 60_000 }, async () => {
    assert.equal(getStartMethod(), 'thread');
    for (const method of ['thread', 'process'] as const) {
      const seen = new (getContext(method).SimpleQueue)<string>();
      const p = new Process({
        target: async (q: { put(v: string): Promise<void> }) => {
          const mp = await import('multiproc');
          await q.put(`${mp.getStartMethod()} ${new mp.Process({ target: () => {} }).startMethod}`);
        },
        args: [seen],
        context: method,
      });
      p.start();
      assert.equal(await seen.get(), `${method} ${method}`);
      await p.join();
    }
  });

  it('an unknown method is a RangeError', () => {
    assert.throws(() => getContext('fork' as never), RangeError);
    assert.throws(() => setStartMethod('spawn' as never), RangeError);
  });

  it('setStartMethod sets the default once; changing it needs force', () => {
    setStartMethod('process');
    assert.equal(getStartMethod(), 'process');
    assert.equal(new Process({ target: () => {} }).startMethod, 'process');
    setStartMethod('process'); // the same again is fine
    assert.throws(() => setStartMethod('thread'), ProcessError);
    setStartMethod('thread', { force: true });
    assert.equal(getStartMethod(), 'thread');
  });
});
