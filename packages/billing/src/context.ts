import Stripe from 'stripe';
import { z } from 'zod';
import { openDatabase, type Database, type PrismaClient } from '@packages/db';
import { createCacheFromEnv, type KeyValueCache } from './cache/index.js';
import { loadFeatureCatalog } from './catalog/index.js';
import { createCustomPlanService, type CustomPlanService } from './custom-plans/index.js';
import { ValidationError } from './errors.js';
import { createFeatureSyncService, type FeatureSyncService } from './feature-sync/index.js';
import { authConfigFromEnv, type AuthConfig } from './server/auth.js';
import { createStripeSyncService, type StripeSyncService } from './stripe-sync/index.js';
import type { FeatureCatalog } from './types.js';
import {
  createStripeWebhookHandler,
  type StripeWebhookHandler,
  type StripeWebhookHandlerOptions,
} from './webhooks/index.js';

export interface BillingContextOptions {
  env?: NodeJS.ProcessEnv;
  /** Overrides DATABASE_URL (unset both for the embedded database). */
  databaseUrl?: string;
  /** Use this client instead of building one from STRIPE_SECRET_KEY / STRIPE_API_BASE. */
  stripe?: Stripe;
  /** Use this (already migrated) database instead of opening one; it stays open on close(). */
  database?: Database;
  /**
   * The HTTP server cannot work without STRIPE_WEBHOOK_SECRET, but the CLI and the demo never
   * receive webhooks, so only the server asks for it to be mandatory (default false).
   */
  requireWebhookSecret?: boolean;
  webhookOptions?: StripeWebhookHandlerOptions;
  /** Prefix of the feature-cache keys (default `features`); give each database its own when they share a Redis. */
  cacheNamespace?: string;
}

export interface BillingContext {
  env: BillingEnv;
  db: Database;
  prisma: PrismaClient;
  stripe: Stripe;
  cache: KeyValueCache;
  catalog: FeatureCatalog;
  stripeSync: StripeSyncService;
  featureSync: FeatureSyncService;
  /** Without STRIPE_WEBHOOK_SECRET every call fails with a configuration error (HTTP 500). */
  webhookHandler: StripeWebhookHandler;
  customPlans: CustomPlanService;
  auth: AuthConfig;
  close(): Promise<void>;
}

const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

const envSchema = z.object({
  STRIPE_SECRET_KEY: z
    .string({
      error:
        'STRIPE_SECRET_KEY is required (a Stripe secret key, sk_live_… / sk_test_…, or the emulator key)',
    })
    .trim()
    .min(
      1,
      'STRIPE_SECRET_KEY is required (a Stripe secret key, sk_live_… / sk_test_…, or the emulator key)',
    ),
  STRIPE_WEBHOOK_SECRET: optionalText,
  STRIPE_API_BASE: optionalText.pipe(
    z
      .url({
        protocol: /^https?$/,
        error: 'STRIPE_API_BASE must be an http(s) URL such as http://127.0.0.1:12111',
      })
      .optional(),
  ),
  DATABASE_URL: optionalText,
  REDIS_URL: optionalText,
  // Checked here: a bad URL would otherwise only surface as a Stripe error at the checkout step,
  // after a product and price had been created (and then archived).
  CHECKOUT_SUCCESS_URL: optionalText.pipe(
    z.url({ protocol: /^https?$/, error: 'CHECKOUT_SUCCESS_URL must be an http(s) URL' }).optional(),
  ),
  CHECKOUT_CANCEL_URL: optionalText.pipe(
    z.url({ protocol: /^https?$/, error: 'CHECKOUT_CANCEL_URL must be an http(s) URL' }).optional(),
  ),
  PAYMENT_GRACE_PERIOD_DAYS: optionalText.pipe(
    z
      .string()
      .regex(/^\d{1,3}$/, 'PAYMENT_GRACE_PERIOD_DAYS must be a whole number of days (0-365)')
      .transform(Number)
      .refine((n) => n <= 365, 'PAYMENT_GRACE_PERIOD_DAYS must be at most 365')
      .optional(),
  ),
  // How often `npm start` restricts tenants whose payment grace ran out (0 turns it off, e.g. when a
  // separate cron calls enforcePaymentGrace).
  PAYMENT_GRACE_CHECK_MINUTES: optionalText.pipe(
    z
      .string()
      .regex(
        /^\d{1,5}$/,
        'PAYMENT_GRACE_CHECK_MINUTES must be a whole number of minutes (0 turns the check off)',
      )
      .transform(Number)
      // A week is far longer than any useful check interval, and well inside what a Node timer can hold.
      .refine((n) => n <= 10_080, 'PAYMENT_GRACE_CHECK_MINUTES must be at most 10080 (a week)')
      .optional(),
  ),
});

export type BillingEnv = z.output<typeof envSchema>;

/** Parses and checks the environment, with one line per problem (ValidationError). */
export function parseBillingEnv(
  env: NodeJS.ProcessEnv,
  options: { requireWebhookSecret?: boolean } = {},
): BillingEnv {
  const parsed = envSchema.safeParse(env);
  const issues = parsed.success
    ? []
    : parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  if (options.requireWebhookSecret && !(parsed.success && parsed.data.STRIPE_WEBHOOK_SECRET)) {
    if (!issues.some((i) => i.path === 'STRIPE_WEBHOOK_SECRET')) {
      issues.push({
        path: 'STRIPE_WEBHOOK_SECRET',
        message:
          'STRIPE_WEBHOOK_SECRET is required to verify webhook signatures (the whsec_… secret of the endpoint)',
      });
    }
  }
  // One without the other used to be ignored silently, leaving every checkout request without defaults.
  if (parsed.success && !parsed.data.CHECKOUT_SUCCESS_URL !== !parsed.data.CHECKOUT_CANCEL_URL) {
    const missing = parsed.data.CHECKOUT_SUCCESS_URL ? 'CHECKOUT_CANCEL_URL' : 'CHECKOUT_SUCCESS_URL';
    issues.push({
      path: missing,
      message: 'CHECKOUT_SUCCESS_URL and CHECKOUT_CANCEL_URL must be set together',
    });
  }
  if (!parsed.success || issues.length > 0) {
    throw new ValidationError(`Invalid configuration: ${issues.map((i) => i.message).join('; ')}`, issues);
  }
  return parsed.data;
}

/** STRIPE_API_BASE → the SDK's host/port/protocol, so the same build talks to Stripe or the emulator. */
export function stripeConfigFromBase(
  base: string | undefined,
): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (!base) return {};
  const url = new URL(base);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port ? Number(url.port) : protocol === 'http' ? 80 : 443, protocol };
}

/**
 * The composition root shared by `npm start`, the CLI and the demo: one place decides how the
 * services are wired, so they cannot drift apart. Whatever was opened is closed again if a later
 * step fails, so a bad configuration never leaves a database or Redis connection behind.
 */
export async function createBillingContext(options: BillingContextOptions = {}): Promise<BillingContext> {
  const env = parseBillingEnv(options.env ?? process.env, {
    requireWebhookSecret: options.requireWebhookSecret,
  });
  const stripe =
    options.stripe ??
    new Stripe(env.STRIPE_SECRET_KEY, { ...stripeConfigFromBase(env.STRIPE_API_BASE), maxNetworkRetries: 2 });
  const ownsDb = options.database === undefined;
  const db =
    options.database ?? (await openDatabase({ databaseUrl: options.databaseUrl ?? env.DATABASE_URL }));
  let cache: KeyValueCache | undefined;
  try {
    cache = createCacheFromEnv({ REDIS_URL: env.REDIS_URL });
    const catalog = await loadFeatureCatalog(db.prisma);
    const stripeSync = createStripeSyncService(stripe, { catalog });
    const featureSync = createFeatureSyncService(db.prisma, stripeSync, {
      cache,
      catalog,
      cacheNamespace: options.cacheNamespace,
    });
    const webhookSecret = env.STRIPE_WEBHOOK_SECRET;
    const graceDays = env.PAYMENT_GRACE_PERIOD_DAYS;
    const webhookHandler: StripeWebhookHandler = webhookSecret
      ? createStripeWebhookHandler(stripe, db.prisma, featureSync, webhookSecret, {
          ...(graceDays !== undefined ? { paymentFailurePolicy: { gracePeriodDays: graceDays } } : {}),
          ...options.webhookOptions,
        })
      : {
          async handleWebhook() {
            throw new Error('STRIPE_WEBHOOK_SECRET is not configured; webhooks cannot be verified');
          },
        };
    const customPlans = createCustomPlanService(stripe, db.prisma, {
      stripeSync,
      featureReader: featureSync.reader,
      catalog,
      ...(env.CHECKOUT_SUCCESS_URL && env.CHECKOUT_CANCEL_URL
        ? { checkoutBaseUrls: { successUrl: env.CHECKOUT_SUCCESS_URL, cancelUrl: env.CHECKOUT_CANCEL_URL } }
        : {}),
    });
    const auth = authConfigFromEnv(options.env ?? process.env, db.prisma);
    const openCache = cache;
    let closed: Promise<void> | undefined;
    return {
      env,
      db,
      prisma: db.prisma,
      stripe,
      cache: openCache,
      catalog,
      stripeSync,
      featureSync,
      webhookHandler,
      customPlans,
      auth,
      close() {
        // Idempotent: a signal handler and a finally block may both call it.
        closed ??= (async () => {
          await openCache.close().catch(() => {});
          if (ownsDb) await db.close();
        })();
        return closed;
      },
    };
  } catch (error) {
    await cache?.close().catch(() => {});
    if (ownsDb) await db.close().catch(() => {});
    throw error;
  }
}
