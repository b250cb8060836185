// Warm spare children, Python's forkserver idea: after a child of a kind is
// started, one more of that kind is booted in the background, so the next
// start() only has to send the run message (a few ms instead of the ~30 ms of
// a new Worker or ~90 ms of a new node process). A spare does not keep the
// program alive and ends with it. MULTIPROC_WARM_SPARES=0 turns this off.
import type { ResourceLimits } from 'node:worker_threads';
import type { StartMethod } from '../context.js';
import type { ChildBackend } from './backend.js';
import { ProcessChild } from './os-process-backend.js';
import { ThreadChild } from './thread-backend.js';

type Backend = ChildBackend & { readonly usable: boolean };
const spares = new Map<StartMethod, Backend>();
const enabled = process.env.MULTIPROC_WARM_SPARES !== '0';

function create(method: StartMethod): Backend {
  return method === 'thread' ? new ThreadChild() : new ProcessChild();
}

/**
 * A child of `method` ready to receive its run message: a warm spare when one
 * is usable. A thread child with resource limits is always made for them.
 */
export function acquireBackend(method: StartMethod, resourceLimits?: ResourceLimits): ChildBackend {
  if (method === 'thread' && resourceLimits) return new ThreadChild(resourceLimits);
  const spare = spares.get(method);
  spares.delete(method);
  const backend = spare?.usable ? spare : create(method);
  if (spare && spare !== backend) spare.kill();
  if (enabled) {
    // Boot the next spare once this one has been told to run, so they do not
    // compete for the CPU while the user's child starts.
    setImmediate(() => {
      if (!spares.has(method)) {
        try {
          spares.set(method, create(method));
        } catch {
          /* no spare this time (e.g. out of processes): start() creates one on demand */
        }
      }
    }).unref();
  }
  return backend;
}
