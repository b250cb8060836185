import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { _decode as decode, _encode as encode, EOFError, getContext, Lock, Pipe, ProcessError, TimeoutError, BrokenPoolError } from 'multiproc';
import { assertNoChildrenLeftAfter, methods, tmpdir } from './helpers.ts';

assertNoChildrenLeftAfter();

const roundTrip = <T>(value: T): T => decode<T>(encode(value));

/** Every structured-clone type, built fresh for each use. */
function samples(): Record<string, unknown> {
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  return {
    undefined: undefined,
    null: null,
    true: true,
    false: false,
    int: 42,
    negativeZero: -0,
    float: 3.25,
    nan: NaN,
    infinity: -Infinity,
    emptyString: '',
    string: 'héllo wörld ✓ 𝄞',
    bigint: 2n ** 70n,
    date: new Date(1700000000000),
    regexp: /a+b/gi,
    map: new Map<unknown, unknown>([['a', 1], [2, { b: [3] }]]),
    set: new Set([1, 'two', 3n]),
    array: [1, 'two', [3, [4]], { five: 5 }],
    // biome-ignore lint/suspicious/noSparseArray: holes must survive the trip
    sparse: [1, , 3],
    object: { a: 1, nested: { b: [true, null] } },
    arrayBuffer: new Uint8Array([1, 2, 3]).buffer,
    uint8: new Uint8Array([1, 2, 255]),
    float64: new Float64Array([1.5, -2.5]),
    bigint64: new BigInt64Array([-(2n ** 63n), 5n]),
    dataView: new DataView(new Uint8Array([9, 8, 7]).buffer),
    boxed: [Object(1), Object('s'), Object(true)],
    cyclic,
  };
}

describe('codec', () => {
  it('round-trips every structured-clone type', () => {
    for (const [name, value] of Object.entries(samples())) {
      assert.deepStrictEqual(roundTrip(value), value, name);
    }
  });

  it('round-trips strings of every length class, ASCII or not, each encoding its own bytes', () => {
    for (const n of [0, 1, 64, 65, 200, 1364, 1365, 1366, 5000]) {
      const ascii = 'x'.repeat(n);
      const mixed = 'aé✓'.repeat(Math.ceil(n / 3)).slice(0, n);
      const astral = '𝄞'.repeat(Math.floor(n / 2)); // (two UTF-16 units, four UTF-8 bytes each)
      for (const s of [ascii, mixed, astral]) assert.equal(roundTrip(s), s, `${n} characters`);
    }
    const a = encode('é'.repeat(100));
    const b = encode('ü'.repeat(100));
    assert.notDeepEqual(a, b, 'a later encoding does not overwrite an earlier one');
    assert.equal(decode(a), 'é'.repeat(100));
  });

  it('keeps cycles and shared references', () => {
    const shared = { s: 1 };
    const value: Record<string, unknown> = { a: shared, b: shared };
    value.me = value;
    const out = roundTrip(value);
    assert.equal(out.a, out.b);
    assert.equal(out.me, out);
  });

  it('round-trips arrays that start as numbers and then hold something else, ints or floats first', () => {
    const ints = Array.from({ length: 12 }, (_, i) => i);
    const floats = ints.map((i) => i + 0.5);
    for (const head of [ints, floats, [...ints, 0.25], [-0, ...ints]]) {
      for (const tail of ['x', null, { a: 1 }, [1, 2], undefined, true]) {
        const value = { before: [...head, tail], pairs: [[1, 2], [3, 4]], after: [...head] };
        assert.deepStrictEqual(roundTrip(value), value, JSON.stringify(value.before));
      }
    }
  });

  it('keeps a shared reference met after more than a handful of other objects', () => {
    const shared = { s: 1 };
    const value: Record<string, unknown>[] = [...Array.from({ length: 40 }, (_, i) => ({ i })), shared, { again: shared }];
    const out = roundTrip(value);
    assert.deepStrictEqual(out, value);
    assert.equal(out[41].again, out[40]);
  });

  it('decodes object keys that look alike (same length, ends and middle) as themselves, message after message', () => {
    const keys = ['axyb', 'azyb', 'a\u00e9yb', '', 'k'.repeat(32), 'k'.repeat(31) + 'j', 'k'.repeat(33)];
    for (let round = 0; round < 3; round++) {
      for (const [i, key] of keys.entries()) {
        const value = { [key]: i, other: { [key]: [round] } };
        assert.deepStrictEqual(roundTrip(value), value, JSON.stringify(key));
      }
    }
  });

  it('round-trips errors with name, message, stack, cause and own properties', () => {
    const cause = new RangeError('inner');
    const err = Object.assign(new TypeError('outer', { cause }), { code: 'E_X', extra: { n: 1 } });
    const out = roundTrip(err) as TypeError & { code: string; extra: unknown; remoteStack: string };
    assert.ok(out instanceof TypeError);
    assert.equal(out.message, 'outer');
    assert.equal(out.stack, err.stack);
    assert.equal(out.remoteStack, err.stack);
    assert.equal(out.code, 'E_X');
    assert.deepEqual(out.extra, { n: 1 });
    assert.ok(out.cause instanceof RangeError);
    assert.equal((out.cause as Error).message, 'inner');
  });

  it("rebuilds the package's own errors as their classes and keeps custom error names", () => {
    assert.ok(roundTrip(new TimeoutError('t')) instanceof TimeoutError);
    assert.ok(roundTrip(new TimeoutError('t')) instanceof ProcessError);
    assert.ok(roundTrip(new BrokenPoolError('b')) instanceof BrokenPoolError);
    class MyError extends Error {
      override name = 'MyError';
    }
    const out = roundTrip(new MyError('mine')) as Error;
    assert.equal(out.name, 'MyError');
    assert.ok(out instanceof Error);
    const nested = roundTrip({ list: [new Error('in a list')] }) as { list: Error[] };
    assert.ok(nested.list[0] instanceof Error);
  });

  it('names the culprit of an unsendable value', () => {
    const cases: [unknown, RegExp][] = [
      [() => {}, /^value is a function/],
      [[1, { cb: () => {} }], /value\[1\]\.cb is a function/],
      [{ s: Symbol('x') }, /value\.s is a symbol/],
      [{ 'odd key': [Symbol.iterator] }, /value\["odd key"\]\[0\] is a symbol/],
      [new Map([['k', () => {}]]), /value\.get\("k"\) is a function/],
      [new Set([() => {}]), /a Set element/],
      [{ sab: new SharedArrayBuffer(8) }, /value\.sab is a SharedArrayBuffer/],
      [{ deep: { weak: new WeakMap() } }, /value\.deep\.weak \(a WeakMap\) cannot be sent/],
      [{ p: Promise.resolve() }, /value\.p \(a Promise\) cannot be sent/],
    ];
    for (const [value, message] of cases) {
      assert.throws(() => encode(value), (err: Error) => err instanceof TypeError && message.test(err.message), String(message));
    }
  });

  it('refuses a host object beside a shareable as it does alone, instead of sending it as {}', { timeout: 10_000 }, () => {
    const lock = new Lock();
    const cases: [unknown, RegExp][] = [
      [[lock, new WeakMap()], /^value\[1\] \(a WeakMap\) cannot be sent/],
      [[lock, { s: new WeakSet() }], /^value\[1\]\.s \(a WeakSet\) cannot be sent/],
      [{ lock, p: Promise.resolve() }, /^value\.p \(a Promise\) cannot be sent/],
      [{ lock, ref: new WeakRef(lock) }, /^value\.ref \(a WeakRef\) cannot be sent/],
      [[lock, new Blob(['x'])], /^value\[1\] \(a Blob\) cannot be sent/],
    ];
    for (const [value, message] of cases) {
      assert.throws(() => encode(value), (err: Error) => err instanceof TypeError && message.test(err.message), String(message));
    }
    class Point {
      x = 1;
    }
    assert.deepEqual((roundTrip([lock, new Point()]) as unknown[])[1], { x: 1 }, 'a class instance still goes as a plain object');
  });

  it('undoes what sending a Connection did when a later value fails to encode: its other end still sees EOF', { timeout: 10_000 }, () => {
    const [a, b] = Pipe();
    const [closed, peer] = Pipe();
    closed.close();
    peer.close();
    assert.throws(() => encode([a, closed]), /cannot send a closed connection/); // fails rewriting
    const detached = new ArrayBuffer(8);
    structuredClone(detached, { transfer: [detached] });
    assert.throws(() => encode([a, detached]), /value\[1\] \(an ArrayBuffer\) cannot be sent/); // fails serializing
    a.close();
    assert.equal(b.pollSync(0), true);
    assert.throws(() => b.recvSync(), EOFError);
    b.close();
  });

  it('uses the name it is given for the root', () => {
    assert.throws(() => encode([0, () => {}], 'args'), /args\[1\] is a function/);
  });

  it('rejects bytes it did not write', () => {
    assert.throws(() => decode(Uint8Array.of(200)), TypeError);
  });
});

for (const method of methods) {
  describe(`codec through a child [${method}]`, () => {
    it('every structured-clone type arrives in the child as sent', async () => {
      const out = path.join(tmpdir(), 'out');
      const p = new (getContext(method).Process)({
        target: async (value: Record<string, unknown>, out: string) => {
          const { _encode } = await import('multiproc');
          // Send back what arrived, encoded again, so the parent compares it exactly.
          (await import('node:fs')).writeFileSync(out, _encode(value));
        },
        args: [samples(), out],
      });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepStrictEqual(decode(new Uint8Array(fs.readFileSync(out))), samples());
    });

    it('an error sent as an argument arrives as an instance of its class', async () => {
      const out = path.join(tmpdir(), 'out');
      const p = new (getContext(method).Process)({
        target: async (err: Error, out: string) => {
          const { TimeoutError } = await import('multiproc');
          (await import('node:fs')).writeFileSync(out, JSON.stringify([err instanceof TimeoutError, err.name, err.message]));
        },
        args: [new TimeoutError('too slow'), out],
      });
      p.start();
      await p.join();
      assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')), [true, 'TimeoutError', 'too slow']);
    });
  });
}
