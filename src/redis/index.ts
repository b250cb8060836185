// multiproc/redis: Queue, SimpleQueue and JoinableQueue across machines on a
// Redis server. Needs the `redis` package (an optional peer dependency).
export { Cluster, connect, type ConnectOptions } from './cluster.js';
export { RedisJoinableQueue, RedisQueue, RedisSimpleQueue, type RedisQueueOptions } from './queues.js';
