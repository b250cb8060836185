// What the server-side referents share: who is calling, and lists of calls
// waiting for something (a lock, an item, a notify) with their timeouts.
//
// The server is one thread serving many clients, so a referent never blocks:
// a call that must wait returns a Promise, settled when its turn comes or its
// timeout passes. A client that dies is dropped from every list
// ([onClientGone]) so nothing is ever handed to it.
let caller = 0;

/** The client whose call is being dispatched now (read it before any await). */
export function callerId(): number {
  return caller;
}

/** Runs `fn` as a call of client `id`. */
export function asCaller<T>(id: number, fn: () => T): T {
  const saved = caller;
  caller = id;
  try {
    return fn();
  } finally {
    caller = saved;
  }
}

let isAlive: (id: number) => boolean = () => true;

/** Set by the server: whether client `id` is still there (a waiter of a dead client is never handed anything). */
export function setClientLiveness(check: (id: number) => boolean): void {
  isAlive = check;
}

/** Implemented by referents that keep per-client state: the server calls it when a client is gone. */
export const onClientGone: unique symbol = Symbol('multiproc.onClientGone') as never;

export interface Waiter<T> {
  readonly caller: number;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** Waiters in arrival order, each settled once: given a value, timed out (`timedOut`), or dropped. */
export class WaitList<T, W extends object = object> {
  readonly #waiters: (Waiter<T> & W)[] = [];

  get length(): number {
    return this.#waiters.length;
  }

  /** Waits until handed a value or `deadline` (Date.now()-based) passes; then `timedOut` is resolved. */
  wait(caller: number, deadline: number, timedOut: T, extra?: W): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = Object.assign(extra ?? ({} as W), {
        caller,
        resolve: (v: T) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#waiters.push(waiter);
      if (deadline !== Infinity) {
        timer = setTimeout(() => {
          this.remove(waiter);
          resolve(timedOut);
        }, Math.max(0, deadline - Date.now()));
      }
    });
  }

  /**
   * The first waiter whose client is alive, taken off the list (the caller
   * settles it); waiters of clients that died meanwhile are dropped, so an
   * item or a lock is never handed to the dead.
   */
  shift(): (Waiter<T> & W) | undefined {
    for (let w = this.#waiters.shift(); w; w = this.#waiters.shift()) if (isAlive(w.caller)) return w;
    return undefined;
  }

  remove(waiter: Waiter<T>): void {
    const i = this.#waiters.indexOf(waiter as Waiter<T> & W);
    if (i >= 0) this.#waiters.splice(i, 1);
  }

  /** Takes every waiter off the list. */
  takeAll(): (Waiter<T> & W)[] {
    return this.#waiters.splice(0);
  }

  /** Takes the waiters of client `id` off the list, unsettled. */
  dropCaller(id: number): (Waiter<T> & W)[] {
    const dropped = this.#waiters.filter((w) => w.caller === id);
    for (const w of dropped) this.remove(w);
    return dropped;
  }
}
