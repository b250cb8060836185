// Warm spare children, Python's forkserver idea: after a child of a kind is
// started, one more of that kind is booted in the background, so the next
// start() only has to send the run message (a few ms instead of the ~30 ms of
// a new Worker or ~90 ms of a new node process). A spare does not keep the
// program alive and ends with it. MULTIPROC_WARM_SPARES=0 turns this off.
//
// Like forkserver's preload, a spare also loads, while it idles, the
// package's own task modules that this program has started children with (a
// manager's server, a pool's worker): loading them is most of such a child's
// start-up (~80 ms for a manager's server here). User modules are never
// preloaded: importing them may have side effects.
import type { ResourceLimits } from 'node:worker_threads';
import type { StartMethod } from '../context.js';
import type { ChildBackend } from './backend.js';
import { ProcessChild } from './os-process-backend.js';
import { ThreadChild } from './thread-backend.js';
import { isPackageModule } from './task.js';

type Backend = ChildBackend & { readonly usable: boolean };
const spares = new Map<StartMethod, Backend>();
/** The package's task modules started with each method, in first-use order. */
const preloads = new Map<StartMethod, Set<string>>();

/** A new child; a spare (`asSpare`) preloads, a child to run at once loads only what its task needs. */
function create(method: StartMethod, asSpare: boolean): Backend {
  const preload = asSpare ? [...(preloads.get(method) ?? [])] : [];
  return method === 'thread' ? new ThreadChild(undefined, preload) : new ProcessChild(preload);
}

/**
 * A child of `method` ready to receive its run message: a warm spare when one
 * is usable. A thread child with resource limits is always made for them.
 * `taskUrl` (a module task's URL) tells later spares what to preload when it
 * is one of the package's modules.
 */
export function acquireBackend(method: StartMethod, resourceLimits?: ResourceLimits, taskUrl?: string): ChildBackend {
  if (taskUrl !== undefined && isPackageModule(taskUrl)) {
    let set = preloads.get(method);
    if (!set) preloads.set(method, (set = new Set()));
    set.add(taskUrl);
  }
  if (method === 'thread' && resourceLimits) return new ThreadChild(resourceLimits);
  const spare = spares.get(method);
  spares.delete(method);
  const backend = spare?.usable ? spare : create(method, false);
  if (spare && spare !== backend) spare.kill();
  // Read at each start, so a program (or a benchmark) can turn spares off and on.
  if (process.env.MULTIPROC_WARM_SPARES !== '0') {
    // Boot the next spare once this one has been told to run, so they do not
    // compete for the CPU while the user's child starts.
    setImmediate(() => {
      if (!spares.has(method)) {
        try {
          spares.set(method, create(method, true));
        } catch {
          /* no spare this time (e.g. out of processes): start() creates one on demand */
        }
      }
    }).unref();
  }
  return backend;
}
