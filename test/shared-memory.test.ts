import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { getContext, SharedMemory, ShareableList } from 'multiproc';
import { assertNoChildrenLeftAfter, eventually, fixture, methods, pidExists } from './helpers.ts';

assertNoChildrenLeftAfter();

// Every segment a test makes is remembered; none may be left in /dev/shm after the file.
const created = new Set<string>();
const exists = (name: string) => fs.existsSync(`/dev/shm/${name}`);
function remember<T extends SharedMemory | ShareableList>(x: T): T {
  created.add(x instanceof SharedMemory ? x.name : x.shm.name);
  return x;
}
after(() => {
  const left = [...created].filter(exists);
  for (const name of left) fs.rmSync(`/dev/shm/${name}`, { force: true });
  assert.deepEqual(left, [], 'shared memory segments left in /dev/shm');
});

/** Runs `python3 -c code args...`, resolving with its stdout. */
function python(code: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', code, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`python3 failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}
// Python 3.11 registers segments it merely attaches to with its resource tracker,
// which would unlink ours when Python exits: PY_ATTACH attaches without that.
const PY_ATTACH = `
import sys, json
from multiprocessing import shared_memory as sm, resource_tracker as rt
def attach(name):
    s = sm.SharedMemory(name)
    rt.unregister(s._name, 'shared_memory')
    return s
def attach_list(name):
    l = sm.ShareableList(name=name)
    rt.unregister(l.shm._name, 'shared_memory')
    return l
`;

/** The NUL-terminated string at the start of `buf`. */
function cString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return Buffer.from(buf.subarray(0, end < 0 ? buf.length : end)).toString();
}

describe('SharedMemory', () => {
  it('create makes a zero-filled segment of `size` bytes named like Python (psm_ + hex), in /dev/shm', () => {
    const shm = remember(new SharedMemory({ create: true, size: 100 }));
    assert.match(shm.name, /^psm_[0-9a-f]{8}$/);
    assert.equal(shm.size, 100);
    assert.ok(shm.buf instanceof Uint8Array);
    assert.equal(shm.buf.length, 100);
    assert.ok(shm.buf.every((b) => b === 0));
    assert.ok(exists(shm.name));
    shm.unlink();
  });

  it('attaching by name sees the same bytes, both ways, with the size fstat reports', () => {
    const name = `psm_t${process.pid}a`;
    const a = remember(new SharedMemory({ name, create: true, size: 4096 }));
    assert.equal(a.name, name);
    const b = new SharedMemory({ name });
    assert.equal(b.size, 4096);
    a.buf.set([1, 2, 3]);
    assert.deepEqual([...b.buf.subarray(0, 3)], [1, 2, 3]);
    b.buf[4095] = 9;
    assert.equal(a.buf[4095], 9);
    a.unlink();
  });

  it('create with a taken name throws EEXIST and leaves the segment as it was', () => {
    const shm = remember(new SharedMemory({ create: true, size: 16 }));
    shm.buf[0] = 5;
    assert.throws(() => new SharedMemory({ name: shm.name, create: true, size: 32 }), { code: 'EEXIST', message: new RegExp(shm.name) });
    assert.equal(new SharedMemory({ name: shm.name }).size, 16);
    assert.equal(shm.buf[0], 5);
    shm.unlink();
  });

  it('attaching a missing name throws ENOENT', () => {
    assert.throws(() => new SharedMemory({ name: `psm_missing${process.pid}` }), { code: 'ENOENT' });
  });

  it('create needs size > 0 and attaching needs a name (RangeError); a failed create leaves nothing in /dev/shm', () => {
    const name = `psm_t${process.pid}b`;
    created.add(name);
    assert.throws(() => new SharedMemory({ name, create: true }), RangeError);
    assert.throws(() => new SharedMemory({ name, create: true, size: 0 }), RangeError);
    assert.throws(() => new SharedMemory({ name, create: true, size: -1 }), RangeError);
    assert.throws(() => new SharedMemory({ name, create: true, size: 1.5 }), RangeError);
    assert.throws(() => new SharedMemory({ name, create: true, size: '8' as never }), TypeError);
    assert.throws(() => new SharedMemory({}), RangeError);
    assert.throws(() => new SharedMemory({ name: 'a/b', create: true, size: 8 }), { code: 'EINVAL' });
    assert.equal(exists(name), false);
  });

  it('close() makes buf throw an error saying it is closed; name and size stay; close twice is fine', () => {
    const shm = remember(new SharedMemory({ create: true, size: 8 }));
    shm.close();
    shm.close();
    assert.throws(() => shm.buf, /closed/);
    assert.equal(shm.closed, true);
    assert.equal(shm.size, 8);
    assert.ok(exists(shm.name), 'close does not unlink');
    shm.unlink();
  });

  it('Symbol.dispose closes (using)', () => {
    let escaped: SharedMemory;
    {
      using shm = remember(new SharedMemory({ create: true, size: 8 }));
      escaped = shm;
    }
    assert.throws(() => escaped.buf, /closed/);
    escaped.unlink();
  });

  it('unlink() removes the name (attach then throws ENOENT, a second unlink too) while views stay usable', () => {
    const shm = remember(new SharedMemory({ create: true, size: 8 }));
    shm.unlink();
    assert.equal(exists(shm.name), false);
    assert.throws(() => new SharedMemory({ name: shm.name }), { code: 'ENOENT' });
    assert.throws(() => shm.unlink(), { code: 'ENOENT' });
    shm.buf[0] = 1;
    assert.equal(shm.buf[0], 1);
  });
});

describe('ShareableList', () => {
  it('holds int, float, bool, str, bytes, None and bigint, with index access, length, format and iteration', () => {
    const sl = remember(new ShareableList([1, 2.5, true, 'héllo', Buffer.from([1, 0, 2]), null, 2n ** 60n, -7]));
    assert.equal(sl.length, 8);
    assert.deepEqual([...sl], [1, 2.5, true, 'héllo', Buffer.from([1, 0, 2]), null, 2n ** 60n, -7]);
    assert.equal(sl.format, 'qdxxxxxxx?8s8sxxxxxx?xqq');
    assert.equal(sl[-1], -7);
    assert.equal(sl[8], undefined);
    assert.ok(0 in sl && !(8 in sl));
    sl[0] = 'abcdefgh'; // a str fits the 8 bytes of a number's slot
    sl[3] = false;
    sl[-1] = 2n;
    assert.deepEqual([sl[0], sl[3], sl[7]], ['abcdefgh', false, 2]);
    assert.equal(sl.count(2), 1);
    assert.equal(sl.count(null), 1);
    assert.equal(sl.index(Buffer.from([1, 0, 2])), 4);
    assert.throws(() => sl.index('nope'), RangeError);
    sl.shm.unlink();
  });

  it('rejects a str/bytes longer than its slot, an index out of range (RangeError) and unsupported types (TypeError)', () => {
    const sl = remember(new ShareableList(['abc', 1]));
    assert.throws(() => { sl[0] = 'x'.repeat(9); }, { name: 'RangeError', message: /exceeds available storage/ });
    assert.throws(() => { sl[1] = new Uint8Array(9); }, RangeError);
    assert.throws(() => { sl[2] = 1; }, RangeError);
    assert.throws(() => { sl[0] = undefined as never; }, TypeError);
    assert.throws(() => { sl[0] = {} as never; }, TypeError);
    assert.throws(() => new ShareableList([2n ** 63n]), RangeError);
    assert.deepEqual([...sl], ['abc', 1]);
    sl.shm.unlink();
  });

  it('attaches by name (null sequence) and sees writes both ways; an empty list works', () => {
    const sl = remember(new ShareableList([0, 'aa']));
    const other = new ShareableList(null, { name: sl.shm.name });
    other[0] = 3.25;
    assert.equal(sl[0], 3.25);
    sl[1] = 'bb';
    assert.equal(other[1], 'bb');
    const empty = remember(new ShareableList());
    assert.equal(empty.length, 0);
    assert.equal(empty.shm.size, 16);
    sl.shm.unlink();
    empty.shm.unlink();
  });
});

for (const method of methods) {
  const ctx = getContext(method);
  describe(`shared memory with children [${method}]`, () => {
    it('a segment passed as an argument arrives attached: the child reads the parent\'s bytes and the parent sees its writes', async () => {
      const shm = remember(new ctx.SharedMemory({ create: true, size: 64 }));
      shm.buf.set([10, 20, 30]);
      const p = new ctx.Process({
        target: (s: SharedMemory, name: string) => {
          if (s.name !== name || s.size !== 64) throw new Error(`wrong segment ${s.name} ${s.size}`);
          s.buf[3] = s.buf[0]! + s.buf[1]! + s.buf[2]!;
          // Attaching by name from inside the child works too.
          return import('multiproc').then(({ SharedMemory }) => {
            new SharedMemory({ name }).buf[4] = 99;
          });
        },
        args: [shm, shm.name],
      });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepEqual([...shm.buf.subarray(0, 5)], [10, 20, 30, 60, 99]);
      assert.ok(exists(shm.name), 'the receiver does not track (or unlink) a passed segment');
      shm.unlink();
    });

    it('a ShareableList passed as an argument can be read and written by the child', async () => {
      const sl = remember(new ctx.ShareableList([1, 'hello', null, 2.5]));
      const p = new ctx.Process({
        target: (l: ShareableList) => {
          const layoutOk = l.length === 4 && l.format === 'q8sxxxxxx?xd';
          l[0] = (l[0] as number) + 41;
          l[1] = (l[1] as string).toUpperCase();
          l[2] = Buffer.from('ok');
          l[3] = layoutOk;
        },
        args: [sl],
      });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepEqual([...sl], [42, 'HELLO', Buffer.from('ok'), true]);
      sl.shm.unlink();
    });

    it('a segment a child creates is unlinked when that child ends, unless it is created with track: false', async () => {
      const out = remember(new SharedMemory({ create: true, size: 64 }));
      const names: string[] = [];
      for (const track of [true, false]) {
        out.buf.fill(0);
        const p = new ctx.Process({
          target: async (out: SharedMemory, track: boolean) => {
            const { SharedMemory } = await import('multiproc');
            const s = new SharedMemory({ create: true, size: 8, track });
            s.buf[0] = 7;
            out.buf.set(Buffer.from(s.name));
          },
          args: [out, track],
        });
        p.start();
        await p.join();
        assert.equal(p.exitCode, 0);
        names.push(cString(out.buf));
        created.add(names.at(-1)!);
      }
      const [tracked, kept] = names as [string, string];
      assert.ok(await eventually(() => !exists(tracked)), 'a tracked segment goes with its creator');
      assert.ok(exists(kept));
      const shm = new SharedMemory({ name: kept });
      assert.equal(shm.buf[0], 7);
      shm.unlink();
      out.unlink();
    });
  });
}

describe('shared memory with Python', () => {
  it('Python attaches to our segment by name, reads our bytes and its writes are seen here', async () => {
    const shm = remember(new SharedMemory({ create: true, size: 32 }));
    shm.buf.set(Buffer.from('from node'));
    const out = await python(`${PY_ATTACH}
s = attach(sys.argv[1])
print(json.dumps([s.size, bytes(s.buf[:9]).decode()]))
s.buf[9:20] = b' and python'
s.close()`, shm.name);
    assert.deepEqual(JSON.parse(out), [32, 'from node']);
    assert.equal(Buffer.from(shm.buf.subarray(0, 20)).toString(), 'from node and python');
    assert.ok(exists(shm.name), 'Python did not unlink it');
    shm.unlink();
  });

  it('we attach to a segment Python created and read and write it', async () => {
    const name = (await python(`${PY_ATTACH}
s = sm.SharedMemory(create=True, size=100)
rt.unregister(s._name, 'shared_memory')  # kept for us (3.11 has no track=False)
s.buf[:6] = b'python'
print(s.name)
s.close()`)).trim();
    created.add(name);
    const shm = new SharedMemory({ name });
    assert.equal(shm.size, 100);
    assert.equal(Buffer.from(shm.buf.subarray(0, 6)).toString(), 'python');
    shm.buf[6] = 33;
    const check = await python(`${PY_ATTACH}
s = attach(sys.argv[1])
print(bytes(s.buf[:7]).decode())
s.close()`, name);
    assert.equal(check.trim(), 'python!');
    shm.unlink();
  });

  it('ShareableList: Python reads ours (every type) and we read its writes; the layout is byte-identical to Python\'s', async () => {
    const sl = remember(new ShareableList([1, 2.5, true, 'hello world!', Buffer.from([1, 2, 0, 3]), null, -(2n ** 62n), 'x'.repeat(16), '']));
    const ours = Buffer.from(sl.shm.buf).toString('hex');
    const ourFormat = sl.format;
    const out = await python(`${PY_ATTACH}
theirs = sm.ShareableList([1, 2.5, True, 'hello world!', b'\\x01\\x02\\x00\\x03', None, -(2**62), 'x'*16, ''])
layout = bytes(theirs.shm.buf)[:${sl.shm.size}].hex()
theirs.shm.close(); theirs.shm.unlink()
l = attach_list(sys.argv[1])
items = [x.hex() if isinstance(x, bytes) else x for x in l]
print(json.dumps([layout, items, l.format, len(l)]))
l[0] = 'abc'; l[2] = None; l[3] = 7; l[4] = b'\\xff'; l[5] = 1.5
l.shm.close()`, sl.shm.name);
    const [layout, items, format, length] = JSON.parse(out);
    assert.equal(layout, ours);
    assert.deepEqual(items, [1, 2.5, true, 'hello world!', '01020003', null, -(2 ** 62), 'x'.repeat(16), '']);
    assert.equal(format, ourFormat);
    assert.equal(length, 9);
    assert.deepEqual([...sl].slice(0, 6), ['abc', 2.5, null, 7, Buffer.from([0xff]), 1.5]);
    sl.shm.unlink();
  });

  it('ShareableList: we attach to Python\'s and read every type; Python sees our writes', async () => {
    const name = (await python(`${PY_ATTACH}
l = sm.ShareableList([7, 0.25, False, 'zwölf', b'\\x00ab', None, 2**62, -1])
rt.unregister(l.shm._name, 'shared_memory')
print(l.shm.name)
l.shm.close()`)).trim();
    created.add(name);
    const sl = new ShareableList(null, { name });
    assert.deepEqual([...sl], [7, 0.25, false, 'zwölf', Buffer.from('\0ab', 'latin1'), null, 2n ** 62n, -1]);
    sl[0] = 'node';
    sl[2] = true;
    sl[5] = 3n;
    const out = await python(`${PY_ATTACH}
l = attach_list(sys.argv[1])
print(json.dumps([l[0], l[2], l[3], l[5]]))
l.shm.close()`, name);
    assert.deepEqual(JSON.parse(out), ['node', true, 'zwölf', 3]);
    sl.shm.unlink();
  });
});

describe('the shared memory tracker', () => {
  /** Starts the creator fixture and resolves with its first output line. */
  function startCreator(mode: string): Promise<{ child: ReturnType<typeof spawn>; info: { names: string[]; sleeper?: number } }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture('shm-creator.ts'), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        if (!out.includes('\n')) return;
        const info = JSON.parse(out.split('\n')[0]!);
        for (const n of info.names) created.add(n);
        resolve({ child, info });
      });
      child.on('exit', (code) => { if (!out.includes('\n')) reject(new Error(`creator exited with ${code}`)); });
    });
  }
  const exited = (child: ReturnType<typeof spawn>) =>
    new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));

  it('unlinks the segments of a creator that is SIGKILLed, even while another child of it lives on', async () => {
    const { child, info } = await startCreator('wait');
    try {
      assert.ok(info.names.every(exists));
      child.kill('SIGKILL');
      await exited(child);
      assert.ok(await eventually(() => !info.names.some(exists), 10_000), `segments left: ${info.names.filter(exists)}`);
      assert.ok(pidExists(info.sleeper!), 'the other child is still running (it did not hold the tracker open)');
    } finally {
      child.kill('SIGKILL');
      try { process.kill(info.sleeper!, 'SIGKILL'); } catch { /* gone */ }
    }
  });

  it('unlinks the segments of a creator that ends normally, and does not keep it alive', async () => {
    const { child, info } = await startCreator('exit');
    await exited(child); // would hang if the tracker kept the program alive
    assert.equal(child.exitCode, 0);
    assert.ok(await eventually(() => !info.names.some(exists), 10_000));
  });

  it('keeps segments created with track: false after their creator ends', async () => {
    const { child, info } = await startCreator('untracked');
    await exited(child);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(info.names.every(exists));
    const shm = new SharedMemory({ name: info.names[0]! });
    assert.equal(shm.buf[0], 42);
    assert.deepEqual([...new ShareableList(null, { name: info.names[1]! })], [1, 'two', null]);
    for (const name of info.names) new SharedMemory({ name }).unlink();
  });
});
