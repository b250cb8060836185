#!/usr/bin/env node
// `npx multiproc worker --redis URL --namespace NS --processes N
//  [--context thread|process] [--allow-source]`: a worker host of a cluster
// Pool (see src/redis/worker-host.ts). SIGTERM or SIGINT: take no more
// tasks, finish the running ones, leave; a second signal exits at once.
import { parseArgs } from 'node:util';
import { cpuCount } from '../process/helpers.js';
import { connect } from '../redis/index.js';
import { WorkerHost } from '../redis/worker-host.js';

const USAGE = `usage: multiproc worker [--redis URL] [--namespace NS] [--processes N] [--context thread|process] [--allow-source]

  --redis URL       redis:// or rediss:// (default $MULTIPROC_REDIS_URL, then redis://127.0.0.1:6379)
  --namespace NS    the application's namespace (default 'multiproc')
  --processes N     children that run tasks (default: the CPUs this process may use)
  --context C       'thread' (default) or 'process'
  --allow-source    run functions shipped by source: code taken from Redis is code execution`;

function fail(message: string): never {
  process.stderr.write(`multiproc: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function worker(argv: string[]): Promise<void> {
  const options = {
    redis: { type: 'string' },
    namespace: { type: 'string' },
    processes: { type: 'string' },
    context: { type: 'string' },
    'allow-source': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const processes = values.processes === undefined ? cpuCount() : Number(values.processes);
  if (!Number.isInteger(processes) || processes < 1) fail(`--processes must be a positive integer, got ${values.processes}`);
  const context = values.context ?? 'thread';
  if (context !== 'thread' && context !== 'process') fail(`--context must be 'thread' or 'process', got ${context}`);
  const cluster = await connect({ url: values.redis, namespace: values.namespace });
  const host = new WorkerHost(cluster._link, cluster.namespace, { processes, context, allowSource: values['allow-source'] ?? false });
  let stopping = false;
  const leave = () => {
    if (stopping) process.exit(1);
    stopping = true;
    void host
      .stop()
      .then(() => cluster.close())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', leave);
  process.on('SIGINT', leave);
  await host.start();
  process.stderr.write(`multiproc worker ${host.name}: ${processes} ${context} children on ${cluster.url} (namespace ${cluster.namespace})\n`);
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'worker') {
  worker(rest).catch((err: unknown) => {
    process.stderr.write(`multiproc worker: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  });
} else if (command === '--help' || command === '-h' || command === 'help') process.stdout.write(`${USAGE}\n`);
else fail(command === undefined ? 'a command is needed' : `unknown command ${JSON.stringify(command)}`);
