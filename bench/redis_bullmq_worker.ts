// A BullMQ worker host for bench/redis.ts: `concurrency` no-op jobs at a time.
import { Worker } from 'bullmq';

const [queueName, concurrency] = process.argv.slice(2);
const worker = new Worker(queueName, async (job) => job.data.a + job.data.b, {
  connection: { host: '127.0.0.1', port: 6379 },
  concurrency: Number(concurrency),
  removeOnComplete: { count: 0 },
});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
