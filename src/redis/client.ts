// The Redis client under multiproc/redis: node-redis (the `redis` package),
// an optional peer dependency loaded only here. One auto-pipelined
// connection carries every command; each blocking read (BLPOP) takes a
// connection of its own from a small idle pool, because a blocked connection
// serves nothing else.
//
// When Redis goes away, connections reconnect for ever in the background.
// A command issued meanwhile is refused at once by node-redis (its offline
// queue is off) and retried here with backoff for up to `retryMs`, then
// rejected with an error naming the server: nothing hangs, and nothing
// that was never sent is sent twice. A command already sent when the
// connection broke is not retried (it may have run): it rejects saying so.
import { createHash } from 'node:crypto';
import type { RedisClientType } from 'redis';

type Client = RedisClientType;
type RedisModule = typeof import('redis');

/** Replies as Buffers (encoded items are bytes, not text). */
let bufferReplies: object | null = null;

const shas = new Map<string, string>();
function scriptSha(script: string): string {
  let sha = shas.get(script);
  if (!sha) shas.set(script, (sha = createHash('sha1').update(script).digest('hex')));
  return sha;
}

async function loadRedis(): Promise<RedisModule> {
  try {
    return await import('redis');
  } catch (err) {
    throw new Error("multiproc/redis needs the 'redis' package (node-redis 5 or newer): npm install redis", { cause: err });
  }
}

export interface ClientOptions {
  url: string;
  /** How long one connection attempt may take. */
  connectTimeoutMs: number;
  /** Attempts before connect() gives up. */
  connectAttempts: number;
  /** How long a command waits for a lost connection to come back before it fails. */
  retryMs: number;
  /** The connections' name in Redis's CLIENT LIST. */
  name: string;
}

/** The URL without its password, for error messages. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an invalid URL)';
  }
}

export class RedisLink {
  readonly #module: RedisModule;
  readonly #options: ClientOptions;
  readonly #command: Client;
  readonly #idleBlockers: Client[] = [];
  readonly #allBlockers = new Set<Client>();
  #closed = false;

  private constructor(module: RedisModule, options: ClientOptions, command: Client) {
    this.#module = module;
    this.#options = options;
    this.#command = command;
  }

  static async open(options: ClientOptions): Promise<RedisLink> {
    const module = await loadRedis();
    bufferReplies ??= { typeMapping: { [module.RESP_TYPES.BLOB_STRING]: Buffer } };
    const command = await connectClient(module, options);
    return new RedisLink(module, options, command);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** One command on the shared connection; bulk replies come back as Buffers. */
  send<T = unknown>(args: (string | Buffer)[]): Promise<T> {
    return this.#retrying(this.#command, args) as Promise<T>;
  }

  /**
   * Runs a Lua script by its SHA1 (EVALSHA), loading it on the first
   * NOSCRIPT (a server that restarted or was flushed forgets its scripts).
   */
  async eval<T = unknown>(script: string, keys: (string | Buffer)[], args: (string | Buffer)[]): Promise<T> {
    const sha = scriptSha(script);
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.send<T>(['EVALSHA', sha, ...tail]);
    } catch (err) {
      if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
      return this.send<T>(['EVAL', script, ...tail]);
    }
  }

  /** `args` on `client`, retried while the client is offline (never sent), for up to retryMs. */
  async #retrying(client: Client, args: (string | Buffer)[]): Promise<unknown> {
    const giveUpAt = Date.now() + this.#options.retryMs;
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new Error('the Redis connection was closed');
      try {
        return await client.sendCommand(args, bufferReplies as never);
      } catch (err) {
        if (err instanceof this.#module.SocketClosedUnexpectedlyError) {
          throw new Error(`the connection to Redis at ${redactedUrl(this.#options.url)} broke while ${String(args[0])} was in flight: it may or may not have run`, { cause: err });
        }
        if (!(err instanceof this.#module.ClientOfflineError)) throw err;
        if (Date.now() >= giveUpAt) {
          throw new Error(`Redis at ${redactedUrl(this.#options.url)} has been unreachable for ${this.#options.retryMs} ms; ${String(args[0])} was not sent`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, Math.min(25 * 2 ** attempt, 500, Math.max(1, giveUpAt - Date.now()))));
      }
    }
  }

  /** Runs `fn` on a connection of its own (for a blocking command), returned to the pool after. */
  async blocking<T>(fn: (send: (args: (string | Buffer)[]) => Promise<unknown>) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('the Redis connection was closed');
    const client = this.#idleBlockers.pop() ?? (await this.#newBlocker());
    let healthy = true;
    try {
      return await fn((args) => this.#retrying(client, args));
    } catch (err) {
      healthy = false;
      throw err;
    } finally {
      if (healthy && !this.#closed && this.#idleBlockers.length < 8) this.#idleBlockers.push(client);
      else {
        this.#allBlockers.delete(client);
        client.destroy();
      }
    }
  }

  async #newBlocker(): Promise<Client> {
    const client = await connectClient(this.#module, this.#options);
    this.#allBlockers.add(client);
    return client;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#allBlockers) c.destroy(); // (a blocked BLPOP has nothing to finish)
    this.#allBlockers.clear();
    this.#idleBlockers.length = 0;
    await this.#command.close();
  }
}

/** A connected client, or a clear error after `connectAttempts` failed attempts. */
async function connectClient(module: RedisModule, options: ClientOptions): Promise<Client> {
  const client = module.createClient({
    url: options.url,
    name: options.name,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: options.connectTimeoutMs,
      // Once connected, reconnect for ever (work resumes when Redis is back); the first connection is bounded.
      reconnectStrategy: (retries: number, cause: Error) => (connected ? Math.min(50 * 2 ** retries, 2000) : retries + 1 >= options.connectAttempts ? cause : 100 * 2 ** retries),
    },
  }) as unknown as Client;
  let connected = false;
  client.on('error', () => {}); // (reported through the failing command or connect())
  try {
    await client.connect();
    connected = true;
    return client;
  } catch (err) {
    try {
      client.destroy();
    } catch {
      /* already closed */
    }
    const reason = (err as Error)?.message ?? String(err);
    const hint = /WRONGPASS|NOAUTH|AUTH/i.test(reason) ? ' (check the user and password in the URL)' : '';
    throw new Error(`cannot connect to Redis at ${redactedUrl(options.url)}: ${reason}${hint}`, { cause: err });
  }
}
