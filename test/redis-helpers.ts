// What the multiproc/redis test files share: the server's URL, whether it is
// up (required under CI=true, else the file is skipped with one line), and
// clusters in namespaces of their own whose keys are deleted after the file.
import { after } from 'node:test';
import net from 'node:net';
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
