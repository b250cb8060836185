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

/** Whether something accepts TCP connections at host:port now. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a private redis-server). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until a server just started (`what`) accepts connections on 127.0.0.1:port; throws after ~5 s. */
export async function waitForServer(port: number, what = 'redis-server'): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await accepts('127.0.0.1', port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start`);
}

const { hostname, port: urlPort } = new globalThis.URL(URL);
export const up = await accepts(hostname, Number(urlPort || 6379));
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
