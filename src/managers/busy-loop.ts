// Keeping the event loop turning for a moment: a socket's data is then seen
// by a poll of the event loop that does not sleep, instead of waking a
// sleeping thread (on this kind of VM a wake-up costs about as much as the
// whole loopback round trip: ~120 µs idle against ~60 µs turning). Used for a
// fraction of a millisecond after each socket message while an answer is
// awaited, so an idle program still sleeps.
import { performance } from 'node:perf_hooks';

export class BusyWindow {
  #until = 0;
  #turning = false;

  /** Keeps the event loop turning until `ms` from now (or later, if already asked). */
  extend(ms: number): void {
    this.#until = Math.max(this.#until, performance.now() + ms);
    if (this.#turning) return;
    this.#turning = true;
    setImmediate(this.#turn);
  }

  #turn = (): void => {
    if (performance.now() < this.#until) setImmediate(this.#turn);
    else this.#turning = false;
  };
}
