import { describe, expect, it } from 'vitest';
import { lazyBillingContext, ValidationError } from '../src/index.js';
import { useBillingTestEnv } from './helpers/use-env.js';

/**
 * What a Next.js route module does at import time (build time): create the lazy context and hand
 * its handler and reader to an adapter. Nothing is read or opened until the first request.
 */
describe('lazyBillingContext', () => {
  it('reads no environment and opens nothing until first use; a failed first use is tried again', async () => {
    const env: NodeJS.ProcessEnv = {};
    let reads = 0;
    const lazy = lazyBillingContext(() => {
      reads += 1;
      return { env };
    });
    expect(reads).toBe(0);
    // No STRIPE_SECRET_KEY: the first request fails with the configuration error, not the import.
    await expect(lazy.features.getTenantFeatures('acme')).rejects.toThrow(ValidationError);
    await expect(lazy.get()).rejects.toThrow(/STRIPE_SECRET_KEY/);
    expect(reads).toBe(2);
    await lazy.close();
  });

  it('builds the context once on first use and serves the adapters through it', async () => {
    const test = await useBillingTestEnv();
    let builds = 0;
    const lazy = lazyBillingContext(() => {
      builds += 1;
      return { database: test.db, stripe: test.stripe, env: { STRIPE_SECRET_KEY: test.emu.apiKey } };
    });
    const [first, second] = await Promise.all([lazy.get(), lazy.get()]);
    expect(first).toBe(second);
    expect(builds).toBe(1);
    expect(await lazy.features.getTenantFeatures('no-such-tenant')).toBeNull();
    // No webhook secret configured: the handler refuses to verify, through the lazy wrapper too.
    await expect(lazy.webhookHandler.handleWebhook('{}', 't=1,v1=x')).rejects.toThrow(
      /STRIPE_WEBHOOK_SECRET/,
    );
    await lazy.close();
    expect(builds).toBe(1);
  });
});
