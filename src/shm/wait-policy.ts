// How every wait in multiproc spends its time before it sleeps: one policy,
// in one place.
//
// A wake-up through the kernel costs 5–70 µs on a virtual machine (an idle
// vCPU takes ~50 µs to wake), while a peer running on another CPU usually
// answers within a microsecond or two. So a waiter first spins — reads the
// word it waits on, or polls its ring — for a short budget, and only then
// sleeps on a futex. Spinning pays only when the peer it waits for can run at
// the same time on another CPU:
// - with one CPU available to this process (taskset, a container's cpuset:
//   the affinity mask that availableParallelism() reads), a spin only delays
//   the peer, so every budget is zero;
// - with more threads ready to run than CPUs (children oversubscribing the
//   machine), the same may hold for whoever spins in place of a runnable
//   peer. The kernel reports more runnable tasks than CPUs (the 4th field of
//   /proc/loadavg, sampled at most every SAMPLE_MS) both then and when the
//   extra thread is someone else's (V8's compiler threads during warm-up, a
//   daemon), where spinning still pays. So while crowded, a thread keeps
//   spinning as long as most of its recent spins caught what they waited for
//   (spinEnded() reports each), and otherwise spins once in PROBE_EVERY
//   waits, to notice when spinning would pay again.
// Sleeps last at most SLICE_MS, after which waits re-check what a sleeping
// waiter cannot be woken for: dead holders, dead parties, dead peers.
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';

/** Longest single sleep: waits re-check liveness (dead holders, dead parties) this often. */
export const SLICE_MS = 100;

/** CPUs this process may run on (its affinity mask). */
export const CPUS = availableParallelism();
/** CPUs of the machine: /proc/loadavg counts runnable tasks machine-wide. */
const ONLINE = Math.max(1, cpus().length);
/** How often the machine's runnable count is read (a read costs ~10 µs). */
const SAMPLE_MS = 50;

/** While crowded and spins mostly fail, one wait in this many spins anyway. */
const PROBE_EVERY = 16;

let sampledAt = -Infinity;
let crowded = false;
/** This thread's recent spins that caught what they waited for (a moving average, 0..1). */
let caught = 1;
let probe = 0;

/** Whether a waiter may spin now: another CPU can run its peer meanwhile. */
export function maySpin(): boolean {
  if (CPUS < 2) return false;
  const now = performance.now();
  if (now - sampledAt >= SAMPLE_MS) {
    sampledAt = now;
    crowded = runnable() > ONLINE;
  }
  return !crowded || caught >= 0.5 || ++probe % PROBE_EVERY === 0;
}

/** A spin allowed by maySpin() ended: it caught what it waited for, or the waiter goes to sleep. */
export function spinEnded(success: boolean): void {
  caught += ((success ? 1 : 0) - caught) / 8;
}

/** A spin that runs over several passes of a loop: its end is reported once (spinEnded). */
export class SpinSpan {
  #open = false;

  /** A pass of the spin ran. */
  pass(): void {
    this.#open = true;
  }

  /** The spin, if one ran, caught what it waited for (true) or gives way to a sleep (false). */
  end(success: boolean): void {
    if (this.#open) spinEnded(success);
    this.#open = false;
  }
}

/** Tasks ready to run machine-wide (this one included), or 0 where the kernel does not say. */
function runnable(): number {
  try {
    const fields = readFileSync('/proc/loadavg', 'latin1').split(' ');
    return Number.parseInt(fields[3], 10) || 0;
  } catch {
    return 0;
  }
}

/** Reads of a word before a blocked thread sleeps (a few µs: a wake-up costs more). */
export const SPIN_READS_SYNC = 5000;
/** Reads of a word before an event loop's wait sleeps: short, as the event loop stalls meanwhile. */
export const SPIN_READS_ASYNC = 200;

/** Spin budgets in time, for loops that poll between other work. */
export const SPIN_MS = {
  /** A manager call waiting for its reply: a served call answers in a few µs. */
  reply: 0.05,
  /** The manager server after a request: the next one usually follows within µs. */
  requests: 0.2,
  /** An idle pool worker: the parent usually writes the next task within µs of a result. */
  idleWorker: 0.05,
  /** The pool parent's event loop after a task went out or a result came in: a wake-up costs as much as a round trip. */
  results: 0.5,
  /**
   * An asynchronous wait while the thread has no other one pending (a
   * ping-pong, a consumer loop): the peer on another CPU usually answers
   * within a few µs, and sleeping costs two thread hops (waiter thread, then
   * event loop) each way. Short, as the event loop stalls meanwhile.
   */
  soleAsyncWait: 0.03,
} as const;

/** `reads` when spinning is allowed now, else 0. */
export function spinReads(reads: number): number {
  return maySpin() ? reads : 0;
}

/** `ms` when spinning is allowed now, else 0. */
export function spinMs(ms: number): number {
  return maySpin() ? ms : 0;
}
