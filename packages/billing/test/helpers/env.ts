import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { createIsolatedDatabase, type Database, type PrismaClient } from '@packages/db';
import { startStripeEmulator } from '@packages/stripe-emulator';
import { createCacheFromEnv, type KeyValueCache } from '../../src/io/cache/index.js';

export type StripeEmulator = Awaited<ReturnType<typeof startStripeEmulator>>;

export interface BillingTestEnv {
  emu: StripeEmulator;
  /** SDK client against the emulator (maxNetworkRetries as requested, default 2). */
  stripe: Stripe;
  db: Database;
  prisma: PrismaClient;
  /** Redis when REDIS_URL is set, in-memory otherwise; keys live under `namespace`. */
  cache: KeyValueCache;
  /** Unique per call, so parallel test files never read each other's cache entries. */
  namespace: string;
  /** Another SDK client against the same emulator, e.g. with a wrong key or no SDK retries. */
  newStripeClient(options?: { apiKey?: string; maxNetworkRetries?: number }): Stripe;
  close(): Promise<void>;
}

export interface TestStripe {
  emu: StripeEmulator;
  stripe: Stripe;
  newStripeClient(options?: { apiKey?: string; maxNetworkRetries?: number }): Stripe;
  close(): Promise<void>;
}

/**
 * The environment a server, worker or CLI child process needs to run on `db`'s schema against the
 * emulator (and on REDIS_URL when set): what every process test and the process benchmarks start from.
 */
export function processEnv(
  emu: Pick<StripeEmulator, 'apiKey' | 'url' | 'webhookSecret'>,
  db: Pick<Database, 'schema'>,
): NodeJS.ProcessEnv {
  return {
    DATABASE_URL: process.env.DATABASE_URL,
    DATABASE_SCHEMA: db.schema,
    REDIS_URL: process.env.REDIS_URL,
    STRIPE_SECRET_KEY: emu.apiKey,
    STRIPE_API_BASE: emu.url,
    STRIPE_WEBHOOK_SECRET: emu.webhookSecret,
  };
}

/** Just an emulator and SDK clients, for tests that need no database (starting PGlite costs seconds). */
export async function startTestStripe(options: { maxNetworkRetries?: number } = {}): Promise<TestStripe> {
  const emu = await startStripeEmulator({ port: 0 });
  const newStripeClient = (o: { apiKey?: string; maxNetworkRetries?: number } = {}) =>
    new Stripe(o.apiKey ?? emu.apiKey, {
      ...emu.stripeClientConfig(),
      maxNetworkRetries: o.maxNetworkRetries ?? options.maxNetworkRetries ?? 2,
    });
  return { emu, stripe: newStripeClient(), newStripeClient, close: () => emu.close() };
}

export interface BillingTestEnvOptions {
  maxNetworkRetries?: number;
  /** Pool size for a real Postgres (the embedded database always has one connection). */
  poolMax?: number;
}

/**
 * Emulator + isolated database + cache for one test file. Starts them in parallel and tears
 * down whatever did start if another part fails, so a broken setup never leaks a server.
 */
export async function setupBillingTestEnv(options: BillingTestEnvOptions = {}): Promise<BillingTestEnv> {
  const namespace = `test:${process.pid}:${randomBytes(4).toString('hex')}`;
  const [emuResult, dbResult] = await Promise.allSettled([
    startTestStripe(options),
    createIsolatedDatabase({ poolMax: options.poolMax }),
  ]);
  if (emuResult.status === 'rejected' || dbResult.status === 'rejected') {
    if (emuResult.status === 'fulfilled') await emuResult.value.close();
    if (dbResult.status === 'fulfilled') await dbResult.value.close();
    throw emuResult.status === 'rejected' ? emuResult.reason : (dbResult as PromiseRejectedResult).reason;
  }
  const { emu, stripe, newStripeClient } = emuResult.value;
  const db = dbResult.value;
  const cache = createCacheFromEnv(process.env, { keyPrefix: `${namespace}:` });
  return {
    emu,
    stripe,
    db,
    prisma: db.prisma,
    cache,
    namespace,
    newStripeClient,
    async close() {
      await Promise.allSettled([cache.close(), emu.close(), db.close()]);
    },
  };
}
