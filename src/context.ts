// Start methods and contexts: 'thread' (worker_threads, the default) or
// 'process' (separate OS processes). A context object exposes the same names
// as the package root, bound to its kind of child.
import { ProcessError } from './errors.js';

export type StartMethod = 'thread' | 'process';
export const startMethods: readonly StartMethod[] = ['thread', 'process'];

/** What a `context` option accepts: a method name or a context object. */
export type ContextLike = StartMethod | { readonly startMethod: StartMethod } | undefined;

let defaultMethod: StartMethod | null = null;

export function getAllStartMethods(): StartMethod[] {
  return [...startMethods];
}

/** The default start method ('thread' unless setStartMethod() said otherwise). */
export function getStartMethod(allowNone = false): StartMethod | null {
  if (defaultMethod === null && !allowNone) return 'thread';
  return defaultMethod;
}

/**
 * Sets the default start method. As in Python, it can be set once; pass
 * { force: true } to change it again.
 */
export function setStartMethod(method: StartMethod, options: { force?: boolean } = {}): void {
  checkMethod(method);
  if (defaultMethod !== null && defaultMethod !== method && !options.force) {
    throw new ProcessError(`context has already been set (to '${defaultMethod}'); pass { force: true } to change it`);
  }
  defaultMethod = method;
}

export function checkMethod(method: unknown): asserts method is StartMethod {
  if (!startMethods.includes(method as StartMethod)) {
    throw new RangeError(`cannot find context for ${JSON.stringify(method)}: the start methods are 'thread' and 'process'`);
  }
}

/** The start method a `context` option names, or the default one. */
export function contextMethod(context: ContextLike): StartMethod {
  if (context === undefined) return getStartMethod() as StartMethod;
  const method = typeof context === 'string' ? context : context?.startMethod;
  checkMethod(method);
  return method;
}
