// Loads the native addon (native/*.cc) once per thread.
//
// The addon is optional for the 'thread' context (plain SharedArrayBuffers and
// Atomics suffice between threads of one process) and required for the
// 'process' context. Set MULTIPROC_NO_ADDON=1 to hide it (tests use this to
// exercise the addon-less path). Its async waits sleep in io_uring where the
// kernel runs futex waits there (6.17+), else in futex_waitv (5.16+), else in
// classic futexes (futexAsyncMode(); native/futex_async.h):
// MULTIPROC_FUTEX_URING=0 skips the first, MULTIPROC_FUTEX_FALLBACK=1 forces
// the last.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface PidExit {
  code: number | null;
  signal: number | null;
}

/** How a futex wait ended. 'ok': woken (or interrupted, or spuriously): re-check the condition. */
export type FutexWaitResult = 'ok' | 'not-equal' | 'timed-out';
/** How an async futex wait ended; 'cancelled' after futexWaitAsyncCancel. */
export type FutexWaitAsyncResult = FutexWaitResult | 'cancelled';

/** The functions the addon exports. Keep in sync with native/*.cc. */
export interface NativeAddon {
  // native/process.cc
  setParentDeathSignal(signal: number): number;
  pidfdOpen(pid: number): number;
  pidfdWait(fd: number, timeoutMs: number): PidExit | null;
  closeFd(fd: number): void;
  pidAlive(pid: number): boolean;
  // native/liveness.cc
  /** Stores `value` into the int32 at `byteOffset` when this thread's environment is torn down (even by terminate()). */
  storeOnExit(sab: SharedArrayBuffer, byteOffset: number, value: number): void;
  /** Closes `fd` when this thread's environment is torn down (a worker's fds belong to the whole process). */
  trackFd(fd: number): void;
  /** Closes a tracked fd now (and no more at teardown); does nothing for an fd this thread does not track. */
  closeTrackedFd(fd: number): void;

  // native/shm.cc — segments as SharedArrayBuffers. Mapping one segment again anywhere in this
  // process (any thread) returns the same memory at the same address; it is unmapped when the
  // last SAB over it is collected. Errors carry `errno` and `code` (EEXIST, ENOENT, ...).
  /** Maps POSIX shm `name` ('/...'): create+exclusive makes a new one of `size` bytes (EEXIST if taken); create alone makes it if absent else opens it untouched; else opens an existing one (ENOENT), size from the segment. */
  shmOpen(name: string, create: boolean, exclusive: boolean, size: number): SharedArrayBuffer;
  /** Removes the shm name; existing mappings stay valid. */
  shmUnlink(name: string): void;
  /** Creates an anonymous memfd segment of `size` bytes (close-on-exec) and returns its fd. */
  memfdCreate(name: string, size: number): number;
  /** Maps the whole file behind `fd` (size from fstat); does not close `fd`. */
  mapFd(fd: number): SharedArrayBuffer;
  /** Opens /proc/<pid>/fd/<fd> read-write (close-on-exec): how a process attaches to a live process's memfd. */
  openProcFd(pid: number, fd: number): number;

  // native/futex.cc — process-shared futexes on the int32 at `byteOffset` (4-aligned, in range:
  // else RangeError) of any SharedArrayBuffer. Not woken by Atomics.notify, and vice versa.
  /** Sleeps this thread while the word equals `expected`, up to `timeoutMs` (< 0 or Infinity: forever). */
  futexWait(sab: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): FutexWaitResult;
  /** Wakes up to `count` waiters (Infinity: all) in any process; returns how many were woken. */
  futexWake(sab: SharedArrayBuffer, byteOffset: number, count: number): number;
  /** futexWait without blocking: `callback` runs once, later, on this thread's event loop; returns a token for cancel. Pending waits keep the loop alive. */
  futexWaitAsync(
    sab: SharedArrayBuffer,
    byteOffset: number,
    expected: number,
    timeoutMs: number,
    callback: (result: FutexWaitAsyncResult) => void,
  ): number;
  /** Cancels a pending async wait: true if it was pending (its callback then gets 'cancelled'), false if already settled. */
  futexWaitAsyncCancel(token: number): boolean;
  /**
   * How async waits sleep in this process: 'uring' (io_uring futex waits polled by the event loop,
   * Linux >= 6.17: no thread), 'waitv' (futex_waitv, Linux >= 5.16: a few threads for all waits) or
   * 'fallback' (classic futex, a thread per pending wait: older kernels). MULTIPROC_FUTEX_URING=0
   * skips 'uring', MULTIPROC_FUTEX_FALLBACK=1 forces 'fallback' (read once per process when the
   * addon loads).
   */
  futexAsyncMode(): 'uring' | 'waitv' | 'fallback';

  // native/bytes.cc
  /** memcpy of `length` bytes from `source` at `sourceOffset` to `target` at `targetOffset` (either may be shared); RangeError when out of bounds. */
  copyBytes(target: Uint8Array, targetOffset: number, source: Uint8Array, sourceOffset: number, length: number): void;
}

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let loaded: NativeAddon | null | undefined;
let loadError: Error | undefined;

/** The addon, or null when it is hidden or failed to load (see nativeLoadError()). */
export function native(): NativeAddon | null {
  if (loaded !== undefined) return loaded;
  if (process.env.MULTIPROC_NO_ADDON === '1') {
    loadError = new Error('the native addon is disabled by MULTIPROC_NO_ADDON=1');
    return (loaded = null);
  }
  try {
    const require = createRequire(import.meta.url);
    const load = require('node-gyp-build') as (dir: string) => NativeAddon;
    loaded = load(packageRoot);
  } catch (err) {
    loadError = err as Error;
    loaded = null;
  }
  return loaded;
}

/** The addon, or throws an error that says how to build it. */
export function requireNative(what: string): NativeAddon {
  const addon = native();
  if (addon) return addon;
  throw new Error(
    `${what} needs the multiproc native addon, which could not be loaded ` +
      `(${loadError?.message ?? 'unknown reason'}). Build it with \`npm rebuild multiproc\` ` +
      `(needs python3, make and a C++ compiler), or use the 'thread' context, which works without it.`,
  );
}
