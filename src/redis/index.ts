// multiproc/redis: queues and the Manager's dict, list, Value, Lock and Event
// across machines on a Redis server. Needs the `redis` package (an optional peer dependency).
export { Cluster, connect, type ConnectOptions } from './cluster.js';
export { RedisLock, RedisSemaphore } from './leases.js';
export { RedisDict, RedisEvent, RedisList, RedisManager, RedisValue } from './manager.js';
export { RedisJoinableQueue, RedisQueue, RedisSimpleQueue, type RedisQueueOptions } from './queues.js';
