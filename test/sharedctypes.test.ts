import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  Array as SharedArray, Condition, Event, Lock, Queue, RLock, RawArray, RawValue, SharedArray as SharedArrayAlias, Value, getContext,
  type SharedValue, type StartMethod, type SynchronizedValue,
} from 'multiproc';
import { assertNoChildrenLeftAfter, fixture, methods, runScript } from './helpers.ts';

assertNoChildrenLeftAfter();

describe('Value', () => {
  it('holds every typecode, wrapping as C does', () => {
    const cases: [string, unknown, unknown][] = [
      ['b', 127, 127], ['b', 128, -128], ['B', 256, 0], ['h', -1, -1], ['H', -1, 65535],
      ['i', 2 ** 31, -(2 ** 31)], ['I', -1, 2 ** 32 - 1], ['f', 1.5, 1.5], ['d', Math.PI, Math.PI],
      ['l', 5, 5n], ['L', -1n, 2n ** 64n - 1n], ['q', 2n ** 63n, -(2n ** 63n)], ['Q', 7, 7n],
      ['c_int', 3, 3], ['c_double', 0.25, 0.25], ['c_longlong', 9, 9n], ['c_ubyte', 300, 44], ['c_bool', 1, true],
    ];
    for (const [tc, init, expected] of cases) assert.deepEqual(Value(tc, init as never).value, expected, `${tc} ${String(init)}`);
  });

  it("'c' holds one byte: a 1-character string, a number or a 1-byte buffer; reads as a Buffer", () => {
    const c = Value('c', 'a');
    assert.deepEqual(c.value, Buffer.from('a'));
    c.value = 98 as never;
    assert.deepEqual(c.value, Buffer.from('b'));
    assert.throws(() => Value('c', 'too long'), TypeError);
  });

  it('a wrong typecode or init is a TypeError, and values keep working', () => {
    assert.throws(() => Value('x', 1), { name: 'TypeError', message: /bad typecode/ });
    assert.throws(() => Value('i', 1.5), TypeError);
    assert.throws(() => Value('i', 'one'), TypeError);
    const v = Value('i', 1);
    assert.throws(() => { v.value = 'two' as never; }, TypeError);
    assert.equal(v.value, 1);
  });

  it('synchronized by default with an RLock; { lock: false } is raw; a given Lock is used', () => {
    const v = Value('i', 0) as SynchronizedValue<number>;
    assert.ok(v.getLock() instanceof RLock);
    assert.equal(v.getObj().value, 0);
    const raw = Value('i', 0, { lock: false });
    assert.equal('getLock' in raw, false);
    const lock = new Lock();
    assert.equal((Value('d', 0, { lock }) as SynchronizedValue<number>).getLock(), lock);
    assert.equal('getLock' in RawValue('i', 0), false);
    assert.throws(() => Value('i', 0, { lock: 'yes' as never }), TypeError);
  });

  it('Value and RawValue default to zero; ints and bools convert as ctypes', () => {
    assert.equal(Value('i').value, 0);
    assert.equal(RawValue('d').value, 0);
    assert.equal(RawValue('q').value, 0n);
    assert.deepEqual(RawValue('c').value, Buffer.of(0));
    assert.equal(RawValue('?').value, false);
    assert.equal(Value('i', true).value, 1);
    assert.equal(Value('d', 3n).value, 3);
    assert.equal(Value('i', 2n ** 32n + 5n).value, 5); // wraps as C
    assert.equal(Value('q', 2 ** 53).value, 2n ** 53n);
    assert.equal(Value('f', 0.1).value, Math.fround(0.1));
    assert.throws(() => Value('d', '1'), TypeError);
    assert.throws(() => Value('q', 1.5), TypeError);
    assert.throws(() => Value('i', NaN), TypeError);
  });

  it('getObj() is the raw value on the same memory, the same object each time; the wrapper forwards to its lock', async () => {
    const v = Value('i', 1);
    const obj = v.getObj();
    assert.equal(v.getObj(), obj);
    assert.equal('getLock' in obj, false);
    obj.value = 5;
    assert.equal(v.value, 5);
    assert.equal(await v.acquire(), true);
    assert.equal(v.getLock().acquireSync({ block: false }), true); // an RLock: re-entrant
    v.getLock().release();
    v.release();
    assert.equal(v.acquireSync({ timeout: 10 }), true);
    v.release();
    {
      using _ = v.lockSync();
      assert.equal(v.getLock().isMine(), true);
    }
    assert.equal(v.getLock().isMine(), false);
    assert.equal(await v.withLock(() => v.value * 2), 10);
    assert.equal(String(v), "SynchronizedValue('i', 5)");
    assert.equal(String(RawValue('d', 0.5)), "SharedValue('d', 0.5)");
  });

  it('a synchronized Value, a synchronized Array and a Condition forward every lock method to their lock', async () => {
    const cond = new Condition();
    for (const x of [Value('i', 0), SharedArray('i', 3), cond]) {
      const lock = x instanceof Condition ? x._lock : x.getLock();
      {
        await using _ = await x.lock();
        assert.equal(lock.isMine(), true);
      }
      assert.equal(lock.isMine(), false);
      {
        using _ = x.lockSync({ timeout: 1000 });
        assert.equal(lock.isMine(), true);
      }
      assert.equal(await x.acquire({ block: false }), true);
      x.release();
      assert.equal(x.acquireSync(), true);
      x.release();
      assert.equal(await x.withLock(() => lock.isMine()), true);
      assert.equal(lock.isMine(), false);
    }
  });

  it('reads and writes are the same with the lock held (a faster path) and without', () => {
    for (const lock of [undefined, new Lock(), new RLock()]) {
      const v = Value('b', 0, { lock });
      const raw = v.getObj();
      v.getLock().acquireSync();
      v.value = 200; // wraps as C, also on the path taken while holding the lock
      assert.equal(v.value, -56);
      assert.equal(raw.value, -56);
      raw.value = 5;
      assert.equal(v.value, 5);
      assert.throws(() => { v.value = 1.5; }, TypeError);
      v.getLock().release();
      assert.equal(v.value, 5);
      v.value = 300;
      assert.equal(v.value, 44);
    }
  });

  it('add, sub and compareExchange are atomic and return the previous value', () => {
    const v = RawValue('i', 10);
    assert.equal(v.add(5), 10);
    assert.equal(v.sub(3), 15);
    assert.equal(v.compareExchange(12, 20), 12);
    assert.equal(v.compareExchange(99, 0), 20);
    assert.equal(v.value, 20);
    const big = RawValue('q', 1);
    assert.equal(big.add(2n), 1n);
    assert.equal(big.value, 3n);
    assert.throws(() => RawValue('d', 1).add(1), TypeError);
  });
});

describe('Array', () => {
  it('is a typed array over shared memory: index, length, iteration; slice copies', () => {
    const a = SharedArray('i', [1, 2, 3]);
    assert.ok(a instanceof Int32Array);
    assert.equal(a.length, 3);
    a[1] = 20;
    assert.deepEqual([...a], [1, 20, 3]);
    const copy = a.slice();
    assert.equal(copy.constructor, Int32Array);
    copy[0] = 100;
    assert.equal(a[0], 1);
    assert.equal(a.typecode, 'i');
  });

  it('sizes, typecodes, bigint arrays with Number init, and char arrays', () => {
    assert.deepEqual([...SharedArray('d', 3)], [0, 0, 0]);
    assert.deepEqual([...RawArray('q', [1, 2])], [1n, 2n]);
    assert.ok(RawArray('Q', 1) instanceof BigUint64Array);
    const chars = SharedArray('c', 'hi');
    assert.ok(chars instanceof Uint8Array);
    assert.equal(Buffer.from(chars).toString(), 'hi');
    assert.equal(SharedArray('d', 0).length, 0);
  });

  it('bad sizes and inits are errors, and nothing breaks', () => {
    assert.throws(() => SharedArray('i', -1), RangeError);
    assert.throws(() => SharedArray('i', [1, 'x']), TypeError);
    assert.throws(() => SharedArray('z', 3), TypeError);
    assert.throws(() => SharedArray('i', 'abc'), TypeError);
    assert.equal(SharedArray('i', 2).length, 2);
  });

  it('Array is exported also as SharedArray; sizes may be bigint; a non-integer size is a TypeError', () => {
    assert.equal(SharedArray, SharedArrayAlias);
    assert.equal(RawArray('i', 3n).length, 3);
    assert.throws(() => SharedArray('i', 2.5), TypeError);
    assert.throws(() => SharedArray('i', -1), { name: 'RangeError', message: /Array length must be >= 0/ });
    assert.throws(() => SharedArray('i', null as never), TypeError);
    assert.throws(() => SharedArray('c', 'h\u0101'), TypeError); // not a byte
    assert.deepEqual([...RawArray('B', new Uint8Array([1, 2]))], [1, 2]);
    assert.deepEqual([...RawArray('i', { length: 2, 0: 7, 1: 8 })], [7, 8]); // array-likes too
  });

  it("a 'c' array has Python's value (up to the first NUL) and raw", () => {
    const a = SharedArray('c', 6);
    a.value = Buffer.from('hi');
    assert.deepEqual(a.value, Buffer.from('hi'));
    a.raw = 'abcdef';
    assert.deepEqual(a.value, Buffer.from('abcdef'));
    a.value = 'xy';
    assert.deepEqual(a.raw, Buffer.from('xy\0def'));
    assert.throws(() => { a.value = 'too long!'; }, RangeError);
    assert.throws(() => { a.raw = 42 as never; }, TypeError);
    assert.equal('value' in RawArray('B', 2), false); // only 'c' arrays
  });

  it('getObj() keeps the memory alive after the synchronized array is collected', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let obj: Int32Array | null = null;
    (() => {
      const a = SharedArray('i', 8);
      obj = a.getObj();
      assert.equal(a.getObj(), obj);
    })();
    obj!.fill(7);
    for (let round = 0; round < 3; round++) {
      gc();
      await new Promise((r) => setTimeout(r, 10)); // finalizers run between turns
    }
    const others = Array.from({ length: 50 }, () => RawArray('i', 8)); // would reuse a freed block
    for (const o of others) o.fill(-1);
    assert.deepEqual([...obj!], Array(8).fill(7));
  });

  it('synchronized arrays have getLock and getObj; raw ones do not', () => {
    const a = SharedArray('i', 4);
    assert.ok((a as { getLock(): unknown }).getLock() instanceof RLock);
    const obj = (a as unknown as { getObj(): Int32Array }).getObj();
    obj[0] = 9;
    assert.equal(a[0], 9);
    assert.equal('getLock' in RawArray('i', 1), false);
    assert.equal('getLock' in SharedArray('i', 1, { lock: false }), false);
  });
});

/** Each child adds 1 to the counter n times: under the lock, or with add(). */
function increment(counter: SynchronizedValue<number>, n: number, useLock: boolean): void {
  for (let i = 0; i < n; i++) {
    if (useLock) {
      counter.getLock().acquireSync();
      counter.value += 1;
      counter.getLock().release();
    } else counter.add(1);
  }
}

function incrementUnlocked(counter: SharedValue<number>, n: number): void {
  for (let i = 0; i < n; i++) counter.value += 1;
}

for (const method of [...methods, 'mixed'] as const) {
  const ctx = (i: number) => getContext(method === 'mixed' ? ((i % 2 ? 'process' : 'thread') as StartMethod) : method);
  describe(`shared values between children [${method}]`, () => {
    for (const useLock of [true, false]) {
      it(`4 children × 100k increments are exact ${useLock ? 'under getLock()' : 'with add(1)'}`, async () => {
        const counter = Value('i', 0) as SynchronizedValue<number>;
        const kids = [0, 1, 2, 3].map((i) => new (ctx(i).Process)({ target: increment, args: [counter, 100_000, useLock] }));
        for (const k of kids) k.start();
        for (const k of kids) await k.join();
        assert.deepEqual(kids.map((k) => k.exitCode), [0, 0, 0, 0]);
        assert.equal(counter.value, 400_000);
      });
    }

    it('without the lock, updates can be lost (never gained); the same run under the lock is exact', async () => {
      const unlocked = RawValue('i', 0);
      const locked = Value('i', 0);
      const kids = [
        ...[0, 1].map((i) => new (ctx(i).Process)({ target: incrementUnlocked, args: [unlocked, 100_000] })),
        ...[0, 1].map((i) => new (ctx(i).Process)({ target: increment, args: [locked, 100_000, true] })),
      ];
      for (const k of kids) k.start();
      for (const k of kids) await k.join();
      assert.ok(unlocked.value <= 200_000 && unlocked.value > 0, String(unlocked.value));
      assert.equal(locked.value, 200_000);
    });

    it("an 'i' Array incremented by a child and a 'd' Array written in the parent", async () => {
      const ints = SharedArray('i', [1, 2, 3]);
      const doubles = SharedArray('d', 3);
      doubles.set([0.5, 1.5, 2.5]);
      const sums = RawArray('d', 1);
      const p = new (ctx(1).Process)({
        target: (ints: Int32Array, doubles: Float64Array, sums: Float64Array) => {
          for (let i = 0; i < ints.length; i++) ints[i] += 10;
          sums[0] = doubles.reduce((a, b) => a + b, 0);
        },
        args: [ints, doubles, sums],
      });
      p.start();
      await p.join();
      assert.deepEqual([...ints], [11, 12, 13]);
      assert.equal(sums[0], 4.5);
    });

    it('a Value made in a child comes back through a Queue attached to the same memory', async () => {
      const q = new Queue<SharedValue<number>>();
      const done = new Event();
      const p = new (ctx(1).Process)({
        target: async (q: Queue<unknown>, done: Event) => {
          const { Value } = await import('multiproc');
          const v = Value('i', 7);
          await q.put(v);
          await done.wait(); // the parent attaches while this child is alive
          if (v.value !== 8) throw new Error(`the child sees ${v.value}`);
        },
        args: [q, done],
      });
      p.start();
      const v = await q.get({ timeout: 20_000 });
      assert.equal(v.value, 7);
      v.value = 8;
      done.set();
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    it("a given Lock is shared with the value: a child's acquire waits for the parent's", async () => {
      const lock = new Lock();
      const v = Value('i', 0, { lock });
      await lock.acquire();
      const p = new (ctx(1).Process)({
        target: (v: SynchronizedValue<number>) => {
          v.getLock().acquireSync();
          v.value = v.value * 10;
          v.getLock().release();
        },
        args: [v],
      });
      p.start();
      await new Promise((r) => setTimeout(r, 200));
      v.value = 4; // the child cannot have read yet: it waits for the lock
      lock.release();
      await p.join();
      assert.equal(v.value, 40);
    });

    it('every typecode arrives in the child with its value', async () => {
      const values = ['b', 'B', 'h', 'H', 'i', 'I', 'l', 'L', 'q', 'Q', 'f', 'd', 'c'].map((tc) => Value(tc, tc === 'c' ? 'z' : 3));
      const out = RawArray('i', 1);
      const p = new (ctx(1).Process)({
        target: (values: SharedValue<unknown>[], out: Int32Array) => {
          let ok = 0;
          for (const v of values) {
            const x = v.value;
            if (x === 3 || x === 3n || (x instanceof Uint8Array && x[0] === 122)) ok++;
            if (v.typecode === 'i') v.value = 42;
          }
          out[0] = ok;
        },
        args: [values, out],
      });
      p.start();
      await p.join();
      assert.equal(out[0], values.length);
      assert.equal(values[4].value, 42);
    });
  });
}

describe('without the native addon', () => {
  it('a Value and an Array are shared with a thread child', async () => {
    const r = await runScript(fixture('ctypes-no-addon.ts'), [], { env: { MULTIPROC_NO_ADDON: '1' } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { counter: 3000, arr: [0, 2.5, 0] });
  });
});
