import type { FastifyInstance } from 'fastify';
import { DEFAULT_FEATURE_CATALOG } from '../src/io/catalog/index.js';
import type { Prisma } from '@packages/db';
import {
  createCustomPlanService,
  type CreateCustomPlanInput,
  type CustomPlanService,
} from '../src/flows/custom-plans/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { createFeatureSyncService, type FeatureSyncService } from '../src/flows/feature-sync/index.js';
import { buildServer } from '../src/entry/server/app.js';
import type { AuthConfig } from '../src/io/http/auth.js';
import type { FeatureMap } from '../src/core/types.js';
import { createStripeSyncService, type StripeSyncService } from '../src/io/stripe-sync/index.js';
import { setupBillingTestEnv, type BillingTestEnv } from './helpers/env.js';
import { createTenant } from './helpers/fixtures.js';

export interface AdminTestEnv extends BillingTestEnv {
  stripeSync: StripeSyncService;
  featureSync: FeatureSyncService;
  customPlans: CustomPlanService;
}

/**
 * The services wired as the composition root would, but with retries off and a high rate limit so
 * injected faults surface on the first attempt and tests stay fast.
 */
export async function setupAdminTestEnv(): Promise<AdminTestEnv> {
  const env = await setupBillingTestEnv({ maxNetworkRetries: 0 });
  const stripeSync = createStripeSyncService(env.stripe, {
    maxRetries: 0,
    requestsPerSecond: 10_000,
    burst: 10_000,
  });
  const reader = createFeatureReader(env.prisma, env.cache, { namespace: env.namespace });
  const featureSync = createFeatureSyncService(env.prisma, stripeSync, { featureReader: reader });
  const customPlans = createCustomPlanService(env.stripe, env.prisma, {
    stripeSync,
    featureReader: reader,
    catalog: DEFAULT_FEATURE_CATALOG,
    checkoutBaseUrls: {
      successUrl: 'https://app.example.test/billing/success',
      cancelUrl: 'https://app.example.test/billing/cancel',
    },
  });
  return { ...env, stripeSync, featureSync, customPlans };
}

export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const TENANT_A_TOKEN = 'tenant-a-token-0123456789abcdef';
export const TENANT_B_TOKEN = 'tenant-b-token-0123456789abcdef';

export function testAuthConfig(env: AdminTestEnv, tenantA: string, tenantB: string): AuthConfig {
  return {
    tokens: [
      { name: 'ops', role: 'admin', token: ADMIN_TOKEN },
      { name: 'tenant-a', role: 'tenant', tenantId: tenantA, token: TENANT_A_TOKEN },
      { name: 'tenant-b', role: 'tenant', tenantId: tenantB, token: TENANT_B_TOKEN },
    ],
    prisma: env.prisma,
  };
}

export async function buildAdminApp(
  env: AdminTestEnv,
  auth: AuthConfig | undefined,
): Promise<FastifyInstance> {
  return buildServer({
    prisma: env.prisma,
    stripe: env.stripe,
    featureSync: env.featureSync,
    customPlans: env.customPlans,
    ...(auth ? { auth } : {}),
  } as Parameters<typeof buildServer>[0]);
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A writable that keeps what was written, for CLI output assertions. */
export function captureStream() {
  let text = '';
  return {
    write(chunk: string) {
      text += chunk;
      return true;
    },
    get text() {
      return text;
    },
  };
}

/** POST requests the emulator received for a route pattern, e.g. 'POST /v1/products'. */
export function countOf(env: BillingTestEnv, key: string): number {
  return env.emu.requestCounts()[key] ?? 0;
}

let tenantSeq = 0;

/** A fresh tenant (optionally with a Stripe customer carrying its tenantId), so tests never share rows. */
export async function newTenant(
  env: BillingTestEnv,
  prefix: string,
  withCustomer = true,
): Promise<{ id: string; customerId: string | null }> {
  tenantSeq += 1;
  const id = `${prefix}_${tenantSeq}`;
  const customer = withCustomer
    ? await env.stripe.customers.create({ name: id, metadata: { tenantId: id } })
    : null;
  await createTenant(env.prisma, id, customer?.id ?? null);
  return { id, customerId: customer?.id ?? null };
}

/** The `pending` custom_plans row an attempt at `request` leaves when it crashes (`extra`: what it had recorded). */
export function pendingPlanRow(
  env: BillingTestEnv,
  request: CreateCustomPlanInput,
  idempotencyKey: string,
  features: FeatureMap,
  extra: Partial<Prisma.CustomPlanUncheckedCreateInput> = {},
) {
  return env.prisma.customPlan.create({
    data: {
      tenantId: request.tenantId,
      basePlanId: request.basePlanId,
      planName: request.planName,
      status: 'pending',
      priceCents: request.priceCents,
      currency: request.currency.toLowerCase(),
      interval: request.recurringInterval,
      features,
      idempotencyKey,
      ...extra,
    },
  });
}
