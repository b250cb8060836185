// The handle registry: how shareable objects (queues, locks, values, shared
// memory, proxies, ...) cross the codec. A shareable class implements
// [shareable]() returning { type, data } with `data` plain structured-clone
// data (numbers, strings, ...). The receiving side looks the type up here and
// rebuilds an object attached to the same underlying resource.

/** Implemented by every object that can be sent to a child attached to the same resource. */
export const shareable: unique symbol = Symbol.for('multiproc.shareable') as never;

export interface Shareable {
  [shareable](): HandleData;
}

export interface HandleData {
  type: string;
  data: unknown;
}

type Rehydrate = (data: any) => unknown;
const registry = new Map<string, Rehydrate>();

/** Registers how to rebuild objects of `type` on the receiving side. Call at module load. */
export function registerHandleType(type: string, rehydrate: Rehydrate): void {
  registry.set(type, rehydrate);
}

export function isShareable(value: object): value is Shareable {
  return typeof (value as Partial<Shareable>)[shareable] === 'function';
}

/** A message holds a shareable type whose module this isolate has not loaded. */
export class UnknownHandleType extends TypeError {}

export function rehydrate(handle: HandleData): unknown {
  const fn = registry.get(handle.type);
  if (!fn) throw new UnknownHandleType(`cannot receive a ${handle.type}: no handle type of that name is registered in this process`);
  return fn(handle.data);
}
