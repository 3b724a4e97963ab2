import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/entry/server/app.js';
import { createUsageService, type UsageService } from '../src/flows/usage/index.js';
import { createStripeWebhookHandler, type StripeWebhookPipeline } from '../src/flows/webhooks/index.js';
import { setupAdminTestEnv, testAuthConfig, type AdminTestEnv } from './admin-helpers.js';
import {
  seedPlans,
  seedTenantsWithSubscriptions,
  type SeededPlans,
  type SeededTenant,
} from './helpers/fixtures.js';

export const CONSOLE_SECRET = 'console-test-secret-0123456789abcdef0123';

export interface ConsoleTestEnv {
  env: AdminTestEnv;
  app: FastifyInstance;
  plans: SeededPlans;
  tenants: SeededTenant[];
  /** Tenant A and B are the tenants of TENANT_A_TOKEN and TENANT_B_TOKEN. */
  A: string;
  B: string;
  /** The server's webhook inbox (no workers: a replay is processed in the request). One try, then failed. */
  webhooks: StripeWebhookPipeline;
  /** Metered features (the tenant page's usage panel); the catalog has no metered key until a test adds one. */
  usage: UsageService;
  /** Stores a real, signed event about tenant `tenantId`'s subscription and lets its processing fail on Stripe 500s. */
  failedEvent(tenantId: string): Promise<string>;
  close(): Promise<void>;
}

/** Services, three subscribed tenants synced from Stripe, and the server with the console on. */
export async function setupConsoleEnv(prefix: string): Promise<ConsoleTestEnv> {
  const env = await setupAdminTestEnv();
  try {
    const plans = await seedPlans(env.stripe);
    const tenants = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 3, { plans, prefix });
    await env.featureSync.syncAllTenantsFromStripe({ actor: 'seed', source: 'sync' });
    const A = tenants[0]!.tenantId;
    const B = tenants[1]!.tenantId;
    const webhooks = createStripeWebhookHandler(
      env.stripe,
      env.prisma,
      env.featureSync,
      env.emu.webhookSecret,
      {
        retry: { maxAttempts: 1 },
        log: () => {},
      },
    );
    const usage = createUsageService(env.prisma, {
      featureReader: env.featureSync.reader,
      checkCacheMs: 0,
      sweepIntervalMs: 0,
    });
    const app = await buildServer({
      usage,
      prisma: env.prisma,
      stripe: env.stripe,
      featureSync: env.featureSync,
      customPlans: env.customPlans,
      auth: testAuthConfig(env, A, B),
      consoleSecret: CONSOLE_SECRET,
      webhookHandler: webhooks,
      webhooks,
    });
    const failedEvent = async (tenantId: string) => {
      const seeded = tenants.find((x) => x.tenantId === tenantId)!;
      const event = env.emu
        .events()
        .find(
          (e) =>
            e.type === 'customer.subscription.created' &&
            (e.data.object as { id: string }).id === seeded.subscriptionId,
        )!;
      const payload = JSON.stringify(event);
      const signature = env.stripe.webhooks.generateTestHeaderString({
        payload,
        secret: env.emu.webhookSecret,
      });
      await webhooks.acceptWebhook(payload, signature);
      env.emu.injectFault({ status: 500, method: 'GET', path: '/v1/subscriptions', count: 1 });
      try {
        await webhooks.processPending();
      } finally {
        env.emu.clearFaults();
      }
      return event.id;
    };
    return {
      env,
      app,
      plans,
      tenants,
      A,
      B,
      webhooks,
      usage,
      failedEvent,
      async close() {
        usage.close();
        await app.close();
        await env.close();
      },
    };
  } catch (error) {
    await env.close();
    throw error;
  }
}

/** Debian's chromium package, or CHROMIUM_PATH; null when neither exists (the browser tests then skip). */
export function chromiumPath(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => !!p && existsSync(p)) ?? null;
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A fresh profile directory per browser, removed again by the returned cleanup. */
export async function freshProfileDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'console-chromium-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
