// The child a started manager's server runs in (BaseManager.start()).
import type { Address } from '../connection/listener.js';
import type { Connection } from '../connection/connection.js';
import type { TaskSpec } from '../process/task.js';
import type { Segment } from '../shm/segment.js';
import { Server, type TypeSpec } from './server.js';
// Every shareable type: the server decodes whatever its clients send (and its
// own start message holds a Connection and a Segment). Importing them here
// lets a warm spare that preloads this module (spare.ts) have them ready.
import '../index.js';

export interface ServerInit {
  mid: string;
  ring: Segment;
  address: Address | null;
  authkey: string | null;
  registry: { typeid: string; callable: TaskSpec | null; exposed: string[] | null; methodToTypeid: Record<string, string> | null }[];
  /** Told { address } once serving, or { error } when the server cannot start. */
  started: Connection;
}

/** Serves until the manager is shut down; the child then ends. */
export async function serveManager(init: ServerInit): Promise<void> {
  const registry = new Map<string, TypeSpec>(init.registry.map((r) => [r.typeid, { callable: r.callable, exposed: r.exposed, methodToTypeid: r.methodToTypeid }]));
  let server: Server;
  try {
    server = new Server({ mid: init.mid, registry, ring: init.ring, address: init.address, authkey: init.authkey === null ? null : Buffer.from(init.authkey, 'hex') });
    await server.ready;
  } catch (error) {
    await init.started.send({ address: null, error });
    return;
  }
  const serving = server.serveForever();
  await init.started.send({ address: server.address });
  init.started.close();
  await serving;
}
