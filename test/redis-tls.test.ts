// multiproc/redis over TLS with an ACL user: a private redis-server that
// listens only on a TLS port, with a certificate from a CA made for the
// test, and whose default user is off. The coordinator (a program, so that
// NODE_EXTRA_CA_CERTS applies) and a worker host connect with
// rediss://user:password@…; a client that does not trust the CA, and a
// wrong password, fail connect() with a clear error in bounded time.
// Required under CI=true (redis-server built with TLS, and openssl), skipped
// with one line elsewhere.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'multiproc/redis';
import { freePort, startHost, waitForServer } from './redis-helpers.js';

const tools = spawnSync('redis-server', ['--version']).status === 0 && spawnSync('openssl', ['version']).status === 0;
if (!tools && process.env.CI === 'true') throw new Error('CI=true: the Redis TLS tests need redis-server and openssl on the PATH');
if (!tools) console.log('# skipped: the Redis TLS tests need redis-server and openssl on the PATH');

const dir = mkdtempSync(join(tmpdir(), 'mp-redis-tls-'));
const caFile = join(dir, 'ca.crt');
let server: ChildProcess | null = null;
after(() => {
  server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function openssl(...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA, and a certificate it signed for 127.0.0.1. */
function makeCertificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=multiproc test CA');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext');
}

/** redis-server on a TLS port only; the default user is off, user `app` has password `s3cret`. */
async function startServer(port: number): Promise<void> {
  writeFileSync(
    join(dir, 'redis.conf'),
    [
      'port 0',
      `tls-port ${port}`,
      'bind 127.0.0.1',
      `tls-cert-file ${join(dir, 'server.crt')}`,
      `tls-key-file ${join(dir, 'server.key')}`,
      `tls-ca-cert-file ${caFile}`,
      'tls-auth-clients no',
      'save ""',
      'appendonly no',
      `dir ${dir}`,
      'user default off',
      'user app on >s3cret ~* &* +@all',
    ].join('\n'),
  );
  server = spawn('redis-server', [join(dir, 'redis.conf')], { stdio: 'ignore' });
  await waitForServer(port);
}

describe('multiproc/redis over TLS with an ACL user', { skip: !tools }, () => {
  let url = '';

  it('a coordinator and a worker host that trust the CA run a Pool, a Queue and a Manager over rediss://', { timeout: 120_000 }, async () => {
    makeCertificates();
    const port = await freePort();
    await startServer(port);
    url = `rediss://app:s3cret@127.0.0.1:${port}`;
    const namespace = `tls-${process.pid}`;
    const env = { NODE_EXTRA_CA_CERTS: caFile };
    const host = await startHost(namespace, { url, env });
    const coordinator = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('./fixtures/tls-coordinator.ts', import.meta.url)), url, namespace], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 90_000,
    });
    assert.equal(coordinator.status, 0, coordinator.stderr);
    assert.deepEqual(JSON.parse(coordinator.stdout), { url: `rediss://app:***@127.0.0.1:${port}`, squares: [1, 4, 9, 16], item: { n: 1 }, mode: 'tls' });
    assert.equal(await host.stop(), 0);
  });

  it('a client that does not trust the CA fails connect() with a certificate error, in bounded time', { timeout: 60_000 }, async () => {
    assert.ok(url, 'the server of the first test is running');
    const t0 = Date.now();
    await assert.rejects(connect({ url, connectTimeoutMs: 2000 }), /cannot connect to Redis at rediss:\/\/app:\*\*\*@127\.0\.0\.1:\d+: .*certificate/i);
    assert.ok(Date.now() - t0 < 30_000);
  });

  it('a wrong password, or the disabled default user, fails connect() saying to check them', { timeout: 60_000 }, async () => {
    assert.ok(url, 'the server of the first test is running');
    // This process does not trust the test CA: the handshake is checked by the test above, so skip verification here.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      await assert.rejects(connect({ url: url.replace('s3cret', 'wrong') }), /WRONGPASS.*check the user and password/);
      await assert.rejects(connect({ url: url.replace('app:s3cret@', '') }), /cannot connect to Redis at rediss:\/\/127\.0\.0\.1:\d+: .*(NOAUTH|NOPERM|WRONGPASS|disabled|auth)/i);
    } finally {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    }
  });
});
