// Waiting on Redis state that no one can wake us for (a full queue, a held
// lease, an Event): polls with backoff until the call's deadline.
import { deadlineOf, msLeft, signalOf, type BlockingOptions } from '../options.js';

const BACKOFF_MS = [2, 5, 10, 20, 50, 100];

export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tries `attempt` until it succeeds (true) or the options' deadline passes (false); an aborted signal rejects. */
export async function until(attempt: () => Promise<boolean>, options: BlockingOptions | number | undefined): Promise<boolean> {
  const deadline = deadlineOf(options);
  const signal = signalOf(options);
  for (let i = 0; ; i++) {
    signal?.throwIfAborted();
    if (await attempt()) return true;
    if (Date.now() >= deadline) return false;
    await pause(Math.min(BACKOFF_MS[Math.min(i, BACKOFF_MS.length - 1)], msLeft(deadline)));
  }
}
