import { createBillingContext, type BillingContext, type BillingContextOptions } from './context.js';
import type { TenantFeatureSource } from '../flows/features/checks.js';
import type { StripeWebhookHandler } from '../flows/webhooks/index.js';

/**
 * A billing context built on first use, for modules a host framework imports at build time (a
 * Next.js route file, a serverless handler): creating it reads no environment and opens nothing,
 * so `next build` needs neither secrets nor a database. The first `get()` (or the first request
 * through `webhookHandler` / `features`) builds the context once and every later call shares it;
 * a failed attempt is not kept, so the next request tries again.
 */
export interface LazyBillingContext {
  get(): Promise<BillingContext>;
  /** The context's webhook handler, for the adapters' `webhookHandler` option. */
  webhookHandler: StripeWebhookHandler;
  /** The context's cached feature reader, for the adapters' `features` option and createFeatureChecks. */
  features: TenantFeatureSource;
  /** Closes the context if it was built (the next `get()` builds a new one). */
  close(): Promise<void>;
}

/** `options` may be a function, read at first use (e.g. to pick up what the host sets at boot). */
export function lazyBillingContext(
  options: BillingContextOptions | (() => BillingContextOptions) = {},
): LazyBillingContext {
  let building: Promise<BillingContext> | undefined;
  const get = (): Promise<BillingContext> => {
    building ??= createBillingContext(typeof options === 'function' ? options() : options).catch(
      (error: unknown) => {
        building = undefined;
        throw error;
      },
    );
    return building;
  };
  return {
    get,
    webhookHandler: {
      handleWebhook: async (payload, signature) =>
        (await get()).webhookHandler.handleWebhook(payload, signature),
      receiveWebhook: async (payload, signature) => {
        const { webhookHandler } = await get();
        return (webhookHandler.receiveWebhook ?? webhookHandler.handleWebhook).call(
          webhookHandler,
          payload,
          signature,
        );
      },
    },
    features: {
      getTenantFeatures: async (tenantId) => (await get()).featureSync.reader.getTenantFeatures(tenantId),
    },
    async close() {
      const built = building;
      building = undefined;
      if (built) await (await built.catch(() => undefined))?.close();
    },
  };
}
