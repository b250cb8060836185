// The base of every Manager type in Redis: the link it sends through and its key.
import type { RedisLink } from './client.js';

export abstract class RedisObject {
  constructor(
    protected readonly link: RedisLink,
    readonly key: string,
  ) {}
}
