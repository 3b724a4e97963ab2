import type { FastifyInstance } from 'fastify';
import { afterAll, beforeEach } from 'vitest';
import { buildAdminApp, setupAdminTestEnv, testAuthConfig, type AdminTestEnv } from '../admin-helpers.js';
import { setupWebhookTestEnv, type WebhookTestEnv, type WebhookTestEnvOptions } from '../webhook-helpers.js';
import { setupBillingTestEnv, type BillingTestEnv, type BillingTestEnvOptions } from './env.js';
import { createFeatureSyncService } from '../../src/flows/feature-sync/index.js';
import { createStripeSyncService } from '../../src/io/stripe-sync/index.js';
import { seedPlans } from './fixtures.js';

/**
 * The `use*` helpers are awaited at the top level of a test file (`const env = await useAdminTestEnv()`):
 * the environment is built while the file is collected and closed after its last test, so a file
 * holds no `let env` with a beforeAll/afterAll pair of its own. Inside a `describe` (which cannot
 * await), call the matching `setup*` in a beforeAll instead.
 */
export function closeAfterAll<T extends { close(): Promise<unknown> }>(resource: T): T {
  afterAll(async () => {
    await resource.close();
  });
  return resource;
}

export async function useBillingTestEnv(options: BillingTestEnvOptions = {}): Promise<BillingTestEnv> {
  return closeAfterAll(await setupBillingTestEnv(options));
}

export interface UseAdminTestEnvOptions {
  /** Clear the emulator's injected faults before each test. */
  clearFaultsEachTest?: boolean;
}

export async function useAdminTestEnv(options: UseAdminTestEnvOptions = {}): Promise<AdminTestEnv> {
  const env = closeAfterAll(await setupAdminTestEnv());
  if (options.clearFaultsEachTest) beforeEach(() => env.emu.clearFaults());
  return env;
}

export interface UseWebhookTestEnvOptions extends WebhookTestEnvOptions {
  /** Set the handler's clock to the real time before each test (tests move it forward). */
  resetClockEachTest?: boolean;
}

export async function useWebhookTestEnv(options: UseWebhookTestEnvOptions = {}): Promise<WebhookTestEnv> {
  const { resetClockEachTest, ...setup } = options;
  const env = closeAfterAll(await setupWebhookTestEnv(setup));
  if (resetClockEachTest) {
    beforeEach(() => {
      env.clock.now = new Date();
    });
  }
  return env;
}

/** The admin server over `env`, tokens as in testAuthConfig for tenants `tenantA` and `tenantB`. */
export async function useAdminApp(
  env: AdminTestEnv,
  tenantA: string,
  tenantB: string,
): Promise<FastifyInstance> {
  return closeAfterAll(await buildAdminApp(env, testAuthConfig(env, tenantA, tenantB)));
}

/** A billing env with the three plans seeded and a feature sync publishing to its cache. */
export async function useFeatureSyncEnv(
  options: { concurrency?: number; batchSize?: number; holdNewTenants?: number } = {},
) {
  const env = await useBillingTestEnv();
  const plans = await seedPlans(env.stripe);
  const stripeSync = createStripeSyncService(env.stripe, { requestsPerSecond: 10_000 });
  const sync = createFeatureSyncService(env.prisma, stripeSync, {
    cache: env.cache,
    cacheNamespace: env.namespace,
    // As the context builds it: the bulk sync's statements through the pg pool behind Prisma.
    pool: env.db.pool,
    ...options,
  });
  return { env, plans, stripeSync, sync };
}
