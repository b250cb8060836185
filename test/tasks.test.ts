import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { getContext, task } from 'multiproc';
import { assertNoChildrenLeftAfter, fixture, methods, tmpdir } from './helpers.ts';

assertNoChildrenLeftAfter();

const jsTasks = pathToFileURL(fixture('tasks.mjs')).href;
const tsTasks = pathToFileURL(fixture('tasks-ts.ts')).href;

describe('task()', () => {
  it('needs a URL', () => {
    assert.throws(() => task('./relative.js', 'x'), TypeError);
    assert.deepEqual({ ...task(jsTasks, 'writeName') }, { kind: 'module', url: jsTasks, exportName: 'writeName' });
  });
});

for (const method of methods) {
  const ctx = getContext(method);
  describe(`tasks [${method}]`, () => {
    it('runs a named export of a JavaScript module', async () => {
      const out = path.join(tmpdir(), 'out');
      const p = new ctx.Process({ target: task(jsTasks, 'writeName'), args: [out] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.equal(fs.readFileSync(out, 'utf8'), p.name);
    });

    it('runs the default export when no name is given', async () => {
      const out = path.join(tmpdir(), 'out');
      const p = new ctx.Process({ target: task(jsTasks), args: [out, { a: [1, 2] }] });
      p.start();
      await p.join();
      assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')), { a: [1, 2] });
    });

    it('runs an export of a TypeScript module under the parent loader', async () => {
      const out = path.join(tmpdir(), 'out');
      const p = new ctx.Process({ target: task(tsTasks, 'writeSum'), args: [out, { x: 2, y: 40 }] });
      p.start();
      await p.join();
      assert.equal(fs.readFileSync(out, 'utf8'), '42');
    });

    it('a missing export fails the child with exit code 1', async () => {
      const p = new ctx.Process({ target: task(jsTasks, 'nope') });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 1);
    });

    it('a function that uses a captured variable fails with an error naming it', async () => {
      const out = path.join(tmpdir(), 'err');
      const secret = 42;
      const p = new ctx.Process({
        target: async (out: string) => {
          try {
            return secret;
          } catch (err) {
            (await import('node:fs')).writeFileSync(out, String((err as Error).message));
            throw err;
          }
        },
        args: [out],
      });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 1);
      // The in-target catch sees the raw ReferenceError; the child reports the explained one.
      assert.match(fs.readFileSync(out, 'utf8'), /secret is not defined/);
    });

    it('ships async functions, function expressions and method shorthands', async () => {
      const dir = tmpdir();
      const holder = {
        async write(out: string) {
          (await import('node:fs')).writeFileSync(out, 'method');
        },
      };
      const targets = [
        holder.write,
        async function named(out: string) {
          (await import('node:fs')).writeFileSync(out, 'named');
        },
      ];
      for (const [i, target] of targets.entries()) {
        const out = path.join(dir, `out${i}`);
        const p = new ctx.Process({ target, args: [out] });
        p.start();
        await p.join();
        assert.equal(p.exitCode, 0, `target ${i}`);
      }
      assert.equal(fs.readFileSync(path.join(dir, 'out0'), 'utf8'), 'method');
      assert.equal(fs.readFileSync(path.join(dir, 'out1'), 'utf8'), 'named');
    });

    it("await import('multiproc') and bare specifiers work inside a shipped function", async () => {
      const out = path.join(tmpdir(), 'out');
      const p = new ctx.Process({
        target: async (out: string) => {
          const mp = await import('multiproc');
          const ts = await import('typescript');
          (await import('node:fs')).writeFileSync(out, `${typeof mp.Process} ${typeof ts.default.version}`);
        },
        args: [out],
      });
      p.start();
      await p.join();
      assert.equal(fs.readFileSync(out, 'utf8'), 'function string');
    });
  });
}

for (const method of methods) {
  describe(`captured variables [${method}]`, () => {
    it('the child reports a captured variable by name and explains how to pass it', async () => {
      const { runScript } = await import('./helpers.ts');
      const r = await runScript(fixture('captured.ts'), [method]);
      assert.deepEqual(JSON.parse(r.stdout), { exitCode: 1 });
      assert.match(r.stderr, /ReferenceError: limit is not defined in the child/);
      assert.match(r.stderr, /refers to 'limit'/);
      assert.match(r.stderr, /cannot capture variables/);
    });
  });
}
