import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random bytes drawn 64 KiB at a time: one system call per thousands of ids, not one per id. */
let pool = Buffer.alloc(0);
let poolAt = 0;

/** Random base62 suffix; Stripe ids are opaque, only the prefix carries meaning. */
export function randomSuffix(length: number): string {
  if (poolAt + length > pool.length) {
    pool = randomBytes(Math.max(65_536, length));
    poolAt = 0;
  }
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[pool[poolAt + i]! % ALPHABET.length];
  poolAt += length;
  return out;
}

// Suffix lengths roughly follow what Stripe hands out, so ids "look right" in logs.
const LENGTHS: Record<string, number> = {
  prod: 14,
  price: 24,
  cus: 14,
  sub: 24,
  si: 14,
  cs_test: 58,
  in: 24,
  il: 24,
  evt: 24,
  req: 14,
  feat_test: 32,
  prodft: 24,
  ent_test: 32,
  mtr_test: 32,
  mev: 24,
};

export function newId(prefix: string): string {
  return `${prefix}_${randomSuffix(LENGTHS[prefix] ?? 24)}`;
}

/**
 * Wall-clock seconds that never go backwards. Several objects are routinely
 * created within the same second; list ordering uses an insertion sequence as
 * the tie-breaker (see Table), so `created` only has to be non-decreasing.
 * `advance` moves the clock forward for everything the emulator stamps (objects'
 * `created`, events, expiry checks), so tests can lay objects out over time.
 */
export class Clock {
  private last = 0;
  private offset = 0;
  now(): number {
    const t = Math.floor(Date.now() / 1000) + this.offset;
    this.last = Math.max(this.last, t);
    return this.last;
  }
  advance(seconds: number): void {
    if (!Number.isInteger(seconds) || seconds < 0)
      throw new RangeError(`advanceClock takes a whole number of seconds ≥ 0, got ${seconds}`);
    this.offset += seconds;
  }
}
