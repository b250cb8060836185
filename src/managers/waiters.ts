// What the server-side referents share: who is calling, and lists of calls
// waiting for something (a lock, an item, a notify) with their timeouts.
//
// The server is one thread serving many clients, so a referent never blocks:
// a call that must wait returns a Promise, settled when its turn comes or its
// timeout passes. A client that dies is dropped from every list
// ([onClientGone]) so nothing is ever handed to it.
let caller = 0;
let callNumber = 0;

/** The client whose call is being dispatched now (read it before any await). */
export function callerId(): number {
  return caller;
}

/** Runs `fn` as call `call` of client `id`. */
export function asCaller<T>(id: number, call: number, fn: () => T): T {
  const saved = caller;
  const savedCall = callNumber;
  caller = id;
  callNumber = call;
  try {
    return fn();
  } finally {
    caller = saved;
    callNumber = savedCall;
  }
}

/** Rejects a waiting call whose client cancelled it (its AbortSignal was aborted). */
export class CallCancelled extends Error {}

/** How to cancel each call waiting in a WaitList, by `${client}:${call}`. */
const cancellers = new Map<string, () => void>();

/** Cancels call `call` of client `id` if it is waiting now; false if it is not (done, or not waiting in a WaitList). */
export function cancelCall(id: number, call: number): boolean {
  const cancel = cancellers.get(`${id}:${call}`);
  cancel?.();
  return cancel !== undefined;
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
  /** Set while the call can be cancelled (see cancelCall). */
  readonly key: string | null;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** Waiters in arrival order, each settled once: given a value, timed out (`timedOut`), or dropped. */
export class WaitList<T, W extends object = object> {
  readonly #waiters: (Waiter<T> & W)[] = [];

  get length(): number {
    return this.#waiters.length;
  }

  /**
   * Waits until handed a value or `deadline` (Date.now()-based) passes; then
   * `timedOut` is resolved. Waiting for the call being dispatched, it can be
   * cancelled by its client: then it rejects with CallCancelled.
   */
  wait(waiterCaller: number, deadline: number, timedOut: T, extra?: W): Promise<T> {
    const key = callNumber !== 0 && caller === waiterCaller ? `${caller}:${callNumber}` : null;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        if (key) cancellers.delete(key);
      };
      const waiter = Object.assign(extra ?? ({} as W), {
        caller: waiterCaller,
        key,
        resolve: (v: T) => {
          done();
          resolve(v);
        },
        reject: (e: unknown) => {
          done();
          reject(e);
        },
      });
      this.#waiters.push(waiter);
      if (key) {
        cancellers.set(key, () => {
          this.remove(waiter);
          waiter.reject(new CallCancelled());
        });
      }
      if (deadline !== Infinity) {
        timer = setTimeout(() => {
          this.remove(waiter);
          waiter.resolve(timedOut);
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
    if (waiter.key) cancellers.delete(waiter.key);
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
