// What the multiproc/redis test files share: the server's URL, whether it is
// up (required under CI=true, else the file is skipped with one line), and
// clusters in namespaces of their own whose keys are deleted after the file.
import { after } from 'node:test';
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { connect, type Cluster, type ConnectOptions } from 'multiproc/redis';
import { createClient } from 'redis';

export const URL = process.env.MULTIPROC_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const up = await new Promise<boolean>((resolve) => {
  const { hostname, port } = new globalThis.URL(URL);
  const s = net.connect({ host: hostname, port: Number(port || 6379) }, () => {
    s.destroy();
    resolve(true);
  });
  s.on('error', () => resolve(false));
});
if (!up && process.env.CI === 'true') throw new Error(`CI=true: the Redis tests need a Redis server at ${URL}`);
if (!up) console.log(`# skipped: no Redis at ${URL} (start one, or set MULTIPROC_REDIS_URL, to run the multiproc/redis tests)`);

const namespaces: string[] = [];

/** A cluster in a namespace of its own (deleted after the file). */
export function cluster(options: Omit<ConnectOptions, 'url' | 'namespace'> = {}): Promise<Cluster> {
  const namespace = `mptest-${process.pid}-${namespaces.length}`;
  namespaces.push(namespace);
  return connect({ url: URL, namespace, ...options });
}

after(async () => {
  if (!up || namespaces.length === 0) return;
  const admin = createClient({ url: URL });
  await admin.connect();
  for (const ns of namespaces) {
    const keys = await admin.keys(`${ns}:*`);
    if (keys.length) await admin.del(keys);
  }
  await admin.close();
});

export interface Host {
  readonly id: string;
  readonly child: ChildProcess;
  /** What the host wrote on stderr so far. */
  readonly stderr: () => string;
  /** SIGTERM: resolves with the exit code once it finished its tasks and left. */
  stop(): Promise<number | null>;
}

const cli = fileURLToPath(new globalThis.URL('../dist/cli/multiproc.js', import.meta.url));
const hosts: ChildProcess[] = [];
let hostCount = 0;

/** Starts `multiproc worker` for `namespace` (under tsx, so TypeScript task modules load); resolves once it joined. */
export async function startHost(
  namespace: string,
  options: { processes?: number; context?: 'thread' | 'process'; allowSource?: boolean; cwd?: string; url?: string; env?: Record<string, string> } = {},
): Promise<Host> {
  const id = `host${++hostCount}`;
  const args = ['--import', import.meta.resolve('tsx'), cli, 'worker', '--redis', options.url ?? URL, '--namespace', namespace, '--processes', String(options.processes ?? 2), '--context', options.context ?? 'thread'];
  if (options.allowSource) args.push('--allow-source');
  const child = spawn(process.execPath, args, { cwd: options.cwd, env: { ...process.env, ...options.env, MP_HOST_ID: id }, stdio: ['ignore', 'inherit', 'pipe'] });
  hosts.push(child);
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      err += String(b);
      if (err.includes('multiproc worker ')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the worker host exited with ${code}: ${err}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    id,
    child,
    stderr: () => err,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

after(() => {
  for (const h of hosts) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
});
