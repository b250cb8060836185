// The native addon's shared memory (native/shm.cc) and futexes (native/futex.cc).
// Cross-process tests spawn `node` with an inline ESM script that loads the
// built addon and attaches to our memfd through /proc/<our pid>/fd/<fd>.
// No timing thresholds: waits are bounded only to turn a hang into a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { requireNative, type FutexWaitAsyncResult } from '../src/native.ts';

const addon = requireNative('test/native.test.ts');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Loads the addon in a child process or an eval'ed worker as `a`.
const loadAddon = `const a = (await import('node:module')).createRequire(${JSON.stringify(root + '/')})('node-gyp-build')(${JSON.stringify(root)});`;

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// Runs an ESM script in a fresh node; `onLine` sees each stdout line as it comes.
function runChild(script: string, onLine: (line: string) => void = () => {}, timeoutMs = 15000): Promise<ChildResult> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `${loadAddon}\n${script}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function asyncWait(sab: SharedArrayBuffer, off: number, expected: number, ms: number): Promise<FutexWaitAsyncResult> {
  return new Promise((resolve) => addon.futexWaitAsync(sab, off, expected, ms, resolve));
}

// A hang (a lost wake) fails the test instead of stalling the run.
const bounded = { timeout: 20000 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Calls futexWake until it reports a woken waiter (the waiter may not sleep yet).
async function wakeUntilWoken(sab: SharedArrayBuffer, off: number, limitMs = 10000): Promise<void> {
  const end = Date.now() + limitMs;
  while (addon.futexWake(sab, off, 1) < 1) {
    if (Date.now() > end) throw new Error('no waiter was ever woken');
    await sleep(2);
  }
}

function memfd(size: number): { fd: number; sab: SharedArrayBuffer } {
  const fd = addon.memfdCreate('multiproc-test', size);
  return { fd, sab: addon.mapFd(fd) };
}

const shmName = (tag: string) => `/multiproc-test-${process.pid}-${tag}`;

test('fd_and_pid_arguments_must_be_integers_a_missing_one_is_never_read_as_0', () => {
  assert.throws(() => (addon.closeFd as (...a: unknown[]) => void)(), { name: 'TypeError', message: /fd must be an integer/ });
  assert.throws(() => (addon.pidfdOpen as (...a: unknown[]) => number)('1'), { name: 'TypeError', message: /pid must be an integer/ });
  assert.throws(() => (addon.pidAlive as (...a: unknown[]) => boolean)(), TypeError);
  assert.equal(addon.pidAlive(process.pid), true);
});

test('a_zombie_child_is_not_alive_before_the_event_loop_reaps_it', bounded, async () => {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const pid = child.pid!;
  const exited = new Promise((r) => child.once('exit', r));
  // Until this event loop runs, nobody reaps the child: it stays a zombie.
  const deadline = Date.now() + 10_000;
  const isZombie = () => {
    try {
      return /\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  while (!isZombie() && Date.now() < deadline);
  assert.ok(isZombie(), 'the child did not become a zombie');
  // /proc shows Z as soon as the main thread exits; the child is waitable once all its threads have.
  while (addon.pidAlive(pid) && Date.now() < deadline);
  assert.equal(addon.pidAlive(pid), false);
  assert.ok(isZombie(), 'the child was reaped meanwhile: the event loop turned');
  await exited;
});

test('shm_segment_created_then_opened_shares_bytes_and_unlink_removes_the_name', () => {
  const name = shmName('basic');
  const a = addon.shmOpen(name, true, true, 4096);
  try {
    assert.ok(a instanceof SharedArrayBuffer);
    assert.equal(a.byteLength, 4096);
    const b = addon.shmOpen(name, false, false, 0);
    assert.equal(b.byteLength, 4096);
    new Int32Array(a)[5] = 12345;
    assert.equal(new Int32Array(b)[5], 12345);
    Atomics.add(new Int32Array(b), 6, 7);
    assert.equal(Atomics.load(new Int32Array(a), 6), 7);
  } finally {
    addon.shmUnlink(name);
  }
  assert.throws(() => addon.shmOpen(name, false, false, 0), { code: 'ENOENT' });
  new Int32Array(a)[0] = 1; // the mapping outlives the name
});

test('shm_open_exclusive_on_taken_name_throws_EEXIST_and_missing_name_throws_ENOENT', () => {
  const name = shmName('errors');
  addon.shmOpen(name, true, true, 64);
  try {
    assert.throws(() => addon.shmOpen(name, true, true, 64), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'EEXIST');
      assert.equal(typeof err.errno, 'number');
      return true;
    });
  } finally {
    addon.shmUnlink(name);
  }
  assert.throws(() => addon.shmOpen(name, false, false, 0), { code: 'ENOENT' });
  assert.throws(() => addon.shmUnlink(name), { code: 'ENOENT' });
  assert.throws(() => addon.shmOpen('no-slash', true, true, 64), TypeError);
  assert.throws(() => addon.shmOpen(shmName('neg'), true, true, -1), RangeError);
});

test('shm_create_without_exclusive_opens_an_existing_segment_untouched', () => {
  const name = shmName('nonexcl');
  const a = addon.shmOpen(name, true, true, 8192);
  try {
    new Uint8Array(a)[8191] = 9;
    const b = addon.shmOpen(name, true, false, 16); // exists: not truncated to 16
    assert.equal(b.byteLength, 8192);
    assert.equal(new Uint8Array(b)[8191], 9);
  } finally {
    addon.shmUnlink(name);
  }
});

test('zero_size_segments_map_to_empty_shared_array_buffers', () => {
  const { fd, sab } = memfd(0);
  assert.ok(sab instanceof SharedArrayBuffer);
  assert.equal(sab.byteLength, 0);
  addon.closeFd(fd);
  const name = shmName('zero');
  try {
    assert.equal(addon.shmOpen(name, true, true, 0).byteLength, 0);
  } finally {
    addon.shmUnlink(name);
  }
});

test('memfd_is_shared_with_a_child_process_that_opens_it_through_proc', bounded, async () => {
  const { fd, sab } = memfd(4096);
  const words = new Int32Array(sab);
  words[0] = 41;
  const result = await runChild(`
    const fd = a.openProcFd(${process.pid}, ${fd});
    const w = new Int32Array(a.mapFd(fd));
    w[1] = w[0] + 1;
    Atomics.store(w, 2, 1);
    a.futexWake(w.buffer, 8, Infinity);
  `);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(words[1], 42);
  assert.equal(Atomics.load(words, 2), 1);
  addon.closeFd(fd);
});

test('open_proc_fd_of_a_missing_fd_throws_ENOENT_and_map_fd_rejects_non_files', () => {
  assert.throws(() => addon.openProcFd(process.pid, 1 << 20), { code: 'ENOENT' });
  assert.throws(() => addon.mapFd(1 << 20), { code: 'EBADF' });
  assert.throws(() => addon.mapFd(undefined as never), TypeError);
});

test('same_segment_mapped_again_in_a_worker_is_one_address_so_atomics_notify_reaches_it', bounded, async () => {
  const { fd, sab } = memfd(4096);
  // The worker maps the memfd itself (its own isolate): the process-wide
  // registry must hand it the same mapping, or Atomics.notify on ours would
  // never wake its Atomics.wait on its copy.
  const worker = new Worker(
    `(async () => {
      ${loadAddon}
      const { parentPort } = await import('node:worker_threads');
      const w = new Int32Array(a.mapFd(${fd}));
      parentPort.postMessage('ready');
      parentPort.postMessage(Atomics.wait(w, 0, 0, 10000));
    })();`,
    { eval: true },
  );
  const messages: string[] = [];
  worker.on('message', (m: string) => messages.push(m));
  while (!messages.includes('ready')) await sleep(2);
  const words = new Int32Array(sab);
  const end = Date.now() + 10000;
  while (Atomics.notify(words, 0, 1) < 1 && Date.now() < end) await sleep(2);
  await new Promise((r) => worker.once('exit', r));
  assert.deepEqual(messages, ['ready', 'ok']);
  // And within one thread: a second mapping shows the same bytes.
  const again = new Int32Array(addon.mapFd(fd));
  words[3] = 77;
  assert.equal(again[3], 77);
  addon.closeFd(fd);
});

test('futex_wait_times_out_when_nobody_wakes_it', () => {
  const sab = new SharedArrayBuffer(8);
  assert.equal(addon.futexWait(sab, 4, 0, 20), 'timed-out');
  assert.equal(addon.futexWait(sab, 4, 0, 0), 'timed-out');
});

test('futex_wait_returns_not_equal_when_the_word_differs', () => {
  const { fd, sab } = memfd(64);
  new Int32Array(sab)[1] = 5;
  assert.equal(addon.futexWait(sab, 4, 4, -1), 'not-equal');
  new Int32Array(sab)[2] = -1; // compared as raw 32 bits
  assert.equal(addon.futexWait(sab, 8, -1, 0), 'timed-out');
  assert.equal(addon.futexWake(sab, 4, Infinity), 0);
  addon.closeFd(fd);
});

/** The async-wait backends this process may have picked (native/futex_async.h, AsyncMode). */
function expectedAsyncModes(): string[] {
  const [major, minor] = os.release().split('.').map(Number);
  const atLeast = (ma: number, mi: number) => major > ma || (major === ma && minor >= mi);
  let disabled = '0'; // /proc/sys/kernel/io_uring_disabled: 1 = root only (or io_uring_group), 2 = nobody
  try {
    disabled = readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
  } catch {}
  const uring = atLeast(6, 17) && (disabled === '0' || (disabled === '1' && process.getuid?.() === 0));
  // A seccomp filter (a container's) may refuse io_uring or futex_waitv: the probes then pass them over.
  const filtered = /^Seccomp:\s*2$/m.test(readFileSync('/proc/self/status', 'utf8'));
  const waitv = atLeast(5, 16) ? 'waitv' : 'fallback';
  if (process.env.MULTIPROC_FUTEX_FALLBACK === '1') return ['fallback'];
  if (process.env.MULTIPROC_FUTEX_URING !== '0' && uring) return filtered ? ['uring', waitv, 'fallback'] : ['uring'];
  return filtered ? [waitv, 'fallback'] : [waitv];
}

test('async_waits_use_io_uring_from_linux_6_17_else_futex_waitv_from_5_16_else_the_fallback', () => {
  // test/futex-fallback.test.ts and test/futex-waitv.test.ts run this file with their switch on.
  const mode = addon.futexAsyncMode();
  assert.ok(expectedAsyncModes().includes(mode), `${mode} is not one of ${expectedAsyncModes()}`);
});

test('futex_calls_validate_buffer_and_offset', () => {
  const sab = new SharedArrayBuffer(16);
  assert.throws(() => addon.futexWait(sab, 2, 0, 0), RangeError);
  assert.throws(() => addon.futexWait(sab, 16, 0, 0), RangeError);
  assert.throws(() => addon.futexWait(sab, -4, 0, 0), RangeError);
  assert.throws(() => addon.futexWake(sab, 1.5, 1), RangeError);
  assert.throws(() => addon.futexWait(new ArrayBuffer(16) as unknown as SharedArrayBuffer, 0, 0, 0), TypeError);
  assert.throws(() => addon.futexWaitAsync(sab, 0, 0, 0, undefined as never), TypeError);
  assert.throws(() => addon.futexWaitAsync(sab, 20, 0, 0, () => {}), RangeError);
});

test('copyBytes_copies_between_shared_and_plain_arrays_and_refuses_out_of_range', () => {
  const shared = new Uint8Array(new SharedArrayBuffer(64)).map((_, i) => i);
  const plain = new Uint8Array(16);
  addon.copyBytes(plain, 2, shared, 10, 8);
  assert.deepEqual([...plain], [0, 0, 10, 11, 12, 13, 14, 15, 16, 17, 0, 0, 0, 0, 0, 0]);
  addon.copyBytes(shared, 60, plain, 2, 4);
  assert.deepEqual([...shared.subarray(60)], [10, 11, 12, 13]);
  addon.copyBytes(shared, 1, shared, 0, 4); // overlapping: a memmove
  assert.deepEqual([...shared.subarray(0, 5)], [0, 0, 1, 2, 3]);
  addon.copyBytes(new Uint8Array(plain.buffer, 8, 4), 0, shared, 1, 4); // a view's own offset counts
  assert.deepEqual([...plain.subarray(8, 12)], [0, 1, 2, 3]);
  assert.throws(() => addon.copyBytes(plain, 10, shared, 0, 7), RangeError);
  assert.throws(() => addon.copyBytes(plain, 0, shared, 60, 5), RangeError);
  assert.throws(() => addon.copyBytes(plain, -1, shared, 0, 1), RangeError);
  assert.throws(() => addon.copyBytes(plain, 0.5, shared, 0, 1), RangeError);
  assert.throws(() => addon.copyBytes(new Int32Array(4) as never, 0, shared, 0, 1), TypeError);
  assert.throws(() => addon.copyBytes(plain, 0, [1, 2] as never, 0, 1), TypeError);
  assert.deepEqual([...plain.subarray(0, 4)], [0, 0, 10, 11], 'a refused call changed nothing');
});

test('sync_waiter_in_a_child_process_is_woken_by_the_parent', bounded, async () => {
  const { fd, sab } = memfd(64);
  let waking: Promise<void> | undefined;
  const result = await runChild(
    `
    const w = a.mapFd(a.openProcFd(${process.pid}, ${fd}));
    console.log('ready');
    console.log(a.futexWait(w, 12, 0, 10000));
  `,
    (line) => {
      if (line === 'ready') waking = wakeUntilWoken(sab, 12); // word unchanged: only a wake ends it
    },
  );
  await waking;
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'ready\nok\n');
  addon.closeFd(fd);
});

test('async_wait_is_resolved_by_a_wake_from_another_process', bounded, async () => {
  const { fd, sab } = memfd(64);
  const waiting = asyncWait(sab, 16, 0, -1);
  const result = await runChild(`
    const w = a.mapFd(a.openProcFd(${process.pid}, ${fd}));
    const end = Date.now() + 10000;
    while (a.futexWake(w, 16, 1) < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
  `);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(await waiting, 'ok');
  addon.closeFd(fd);
});

test('async_wait_is_resolved_by_a_wake_from_a_worker_thread', bounded, async () => {
  const sab = new SharedArrayBuffer(64); // any SAB works within one process
  const waiting = asyncWait(sab, 20, 0, -1);
  const worker = new Worker(
    `(async () => {
      ${loadAddon}
      const { workerData: sab } = await import('node:worker_threads');
      const end = Date.now() + 10000;
      while (a.futexWake(sab, 20, 1) < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    })();`,
    { eval: true, workerData: sab },
  );
  const exited = new Promise((r) => worker.once('exit', r)); // before awaiting: it may exit first
  assert.equal(await waiting, 'ok');
  await exited;
});

test('async_wait_reports_not_equal_and_timed_out', bounded, async () => {
  const sab = new SharedArrayBuffer(8);
  assert.equal(await asyncWait(sab, 0, 1, -1), 'not-equal');
  assert.equal(await asyncWait(sab, 0, 0, 0), 'timed-out');
  assert.equal(await asyncWait(sab, 0, 0, 30), 'timed-out');
});

test('async_wait_callback_never_runs_synchronously', () => {
  let ran = false;
  addon.futexWaitAsync(new SharedArrayBuffer(8), 0, 1, -1, () => (ran = true));
  assert.equal(ran, false);
});

test('cancelled_async_wait_resolves_with_cancelled_and_cancel_is_then_false', bounded, async () => {
  const sab = new SharedArrayBuffer(8);
  let result: FutexWaitAsyncResult | undefined;
  const done = new Promise<void>((resolve) => {
    const token = addon.futexWaitAsync(sab, 0, 0, -1, (r) => {
      result = r;
      resolve();
    });
    assert.equal(addon.futexWaitAsyncCancel(token), true);
    assert.equal(result, undefined); // asynchronously
    assert.equal(addon.futexWaitAsyncCancel(token), false);
  });
  await done;
  assert.equal(result, 'cancelled');
  // Already settled: nothing to cancel.
  const token = addon.futexWaitAsync(sab, 0, 1, -1, () => {});
  assert.equal(addon.futexWaitAsyncCancel(token), false);
  assert.equal(addon.futexWaitAsyncCancel(123456789), false);
});

test('two_hundred_concurrent_async_waits_all_resolve', bounded, async () => {
  // More than FUTEX_WAITV_MAX - 1 = 127: needs a second waiter thread.
  const { fd, sab } = memfd(4 * 200);
  const words = new Int32Array(sab);
  const results = Array.from({ length: 200 }, (_, i) => asyncWait(sab, 4 * i, 0, i % 2 ? 200 : -1));
  await sleep(20);
  for (let i = 0; i < 200; i += 2) {
    Atomics.store(words, i, 1);
    addon.futexWake(sab, 4 * i, 1);
  }
  const settled = await Promise.all(results);
  settled.forEach((r, i) => {
    // Even: woken ('not-equal' if the store landed before its waiter slept).
    if (i % 2 === 0) assert.ok(r === 'ok' || r === 'not-equal', `${i}: ${r}`);
    else assert.equal(r, 'timed-out', `${i}`);
  });
  addon.closeFd(fd);
});

test('more_waits_than_the_io_uring_completion_ring_holds_all_resolve_from_one_wake', bounded, async (t) => {
  // 1,100 completions at once overflow the ring's 1,024 slots (futex_uring.cc,
  // kCqEntries): the rest wait in the kernel and come in a second pass.
  if (addon.futexAsyncMode() !== 'uring') return t.skip('only the io_uring backend has a completion ring');
  const sab = new SharedArrayBuffer(8);
  const results = Array.from({ length: 1100 }, () => asyncWait(sab, 4, 0, -1));
  assert.equal(addon.futexWake(sab, 4, Infinity), 1100); // queued in the kernel as they were made
  assert.deepEqual(await Promise.all(results), Array(1100).fill('ok'));
});

test('one_wake_all_resolves_every_async_wait_on_that_word', bounded, async () => {
  const sab = new SharedArrayBuffer(8);
  const results = Array.from({ length: 10 }, () => asyncWait(sab, 4, 0, -1));
  let woken = 0;
  const end = Date.now() + 10000;
  // The word is never changed: only wakes can end these waits.
  while (woken < 10 && Date.now() < end) {
    woken += addon.futexWake(sab, 4, Infinity);
    await sleep(2);
  }
  assert.deepEqual(await Promise.all(results), Array(10).fill('ok'));
});

test('workers_that_exit_with_async_waits_pending_do_not_crash_or_hang_the_process', bounded, async () => {
  const worker = (exit: string) => `
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(\`(async () => {
      ${loadAddon.replace(/`/g, '\\`')}
      const { parentPort } = await import('node:worker_threads');
      const sab = new SharedArrayBuffer(4 * 300);
      for (let i = 0; i < 300; i++) a.futexWaitAsync(sab, 4 * i, 0, -1, () => { throw new Error('must not run'); });
      parentPort.postMessage('waiting');
      ${exit}
    })();\`, { eval: true });
    await new Promise((r) => w.once('message', r));
  `;
  const result = await runChild(`
    {${worker('')} await w.terminate(); }
    {${worker('process.exit(3)')} console.log('exit code', await new Promise((r) => w.once('exit', r))); }
    console.log('done');
  `);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'exit code 3\ndone\n');
});

test('an_idle_program_exits_once_its_async_waits_have_settled', bounded, async () => {
  // Must exit by itself: nothing pending means the loop is not kept alive.
  const result = await runChild(`
    const fd = a.memfdCreate('idle', 64);
    const sab = a.mapFd(fd);
    a.futexWaitAsync(sab, 0, 1, -1, (r) => console.log(r));
    a.futexWaitAsync(sab, 4, 0, 10, (r) => console.log(r));
    const t = a.futexWaitAsync(sab, 8, 0, -1, (r) => console.log(r));
    a.futexWaitAsyncCancel(t);
  `);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trim().split('\n').sort(), ['cancelled', 'not-equal', 'timed-out']);
});

test('a_pending_async_wait_keeps_the_program_alive_until_woken', bounded, async () => {
  const result = await runChild(`
    const sab = new SharedArrayBuffer(8);
    a.futexWaitAsync(sab, 0, 0, -1, (r) => console.log('woken', r));
    const { Worker } = await import('node:worker_threads');
    // The worker wakes us only after a while; without the ref we'd exit first.
    new Worker(\`(async () => {
      ${loadAddon.replace(/`/g, '\\`')}
      const { workerData: sab } = await import('node:worker_threads');
      await new Promise((r) => setTimeout(r, 100));
      while (a.futexWake(sab, 0, 1) < 1) await new Promise((r) => setTimeout(r, 2));
    })();\`, { eval: true, workerData: sab }).unref();
  `);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'woken ok\n');
});

test('a_segment_handle_whose_descriptor_now_names_another_file_is_refused', async () => {
  const { Segment } = await import('../src/shm/segment.ts');
  const other = Segment.create(4096);
  const handle = other.toHandle('a segment');
  // As if the sender had closed the segment's descriptor and the number now named another segment.
  const stale = { ...handle, id: `${handle.id}-gone` };
  assert.throws(() => Segment.attach(stale), /no longer holds it/);
  assert.equal(Segment.attach(handle), other); // the real one still attaches (the same object, once per isolate)
});
