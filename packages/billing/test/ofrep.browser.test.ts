import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setFeatureOverride } from '../src/index.js';
import {
  buildAdminApp,
  setupAdminTestEnv,
  TENANT_A_TOKEN,
  testAuthConfig,
  type AdminTestEnv,
} from './admin-helpers.js';
import { chromiumPath, CHROMIUM_ARGS, freshProfileDir } from './console-helpers.js';
import { PLAN_FIXTURES, seedPlans, seedTenantsWithSubscriptions } from './helpers/fixtures.js';

/**
 * OpenFeature's own browser provider (@openfeature/ofrep-web-provider on @openfeature/web-sdk) in
 * the real Chromium the console tests use, against our server's OFREP endpoints: the page signs in
 * with a tenant key, reads its flags, and sees a change through the provider's polling (ETag,
 * 304 while nothing changed).
 */
const executablePath = chromiumPath();
if (!executablePath) console.warn('ofrep.browser.test.ts SKIPPED: no Chromium found (set CHROMIUM_PATH)');

/** The page's script: the SDK and the provider bundled as they would be in an app. */
const PAGE_SCRIPT = `
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
window.flags = { changes: 0 };
window.startFlags = async (tenantId, token) => {
  await OpenFeature.setContext({ targetingKey: tenantId });
  const provider = new OFREPWebProvider({
    baseUrl: location.origin,
    headers: [['Authorization', 'Bearer ' + token]],
    pollInterval: 250,
    cacheMode: 'disabled',
  });
  await OpenFeature.setProviderAndWait(provider);
  const client = OpenFeature.getClient();
  client.addHandler(ProviderEvents.ConfigurationChanged, () => { window.flags.changes += 1; });
  window.read = () => ({
    apiAccess: client.getBooleanDetails('api_access', false),
    maxProjects: client.getNumberDetails('max_projects', -1),
    sso: client.getBooleanValue('sso', false),
    missing: client.getBooleanDetails('no_such_flag', true),
    changes: window.flags.changes,
  });
};
`;

describe.skipIf(!executablePath)(
  'OFREP with @openfeature/ofrep-web-provider in Chromium',
  { timeout: 90_000 },
  () => {
    const responses: { url: string; status: number }[] = [];
    let env: AdminTestEnv;
    let base: string;
    let browser: BrowserContext;
    let profile: Awaited<ReturnType<typeof freshProfileDir>>;
    let A: string;
    let close: () => Promise<void>;

    beforeAll(async () => {
      profile = await freshProfileDir();
      const launching = chromium.launchPersistentContext(profile.dir, {
        executablePath: executablePath!,
        headless: true,
        args: CHROMIUM_ARGS,
      });
      env = await setupAdminTestEnv();
      const plans = await seedPlans(env.stripe);
      const [a, b] = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 2, {
        prefix: 'ofb',
        priceFor: () => plans.starter.price.id,
      });
      A = a!.tenantId;
      await env.featureSync.syncAllTenantsFromStripe();
      const bundle = await build({
        stdin: { contents: PAGE_SCRIPT, resolveDir: process.cwd(), loader: 'js' },
        bundle: true,
        format: 'iife',
        platform: 'browser',
        write: false,
        logLevel: 'silent',
      });
      const app = await buildAdminApp(env, testAuthConfig(env, A, b!.tenantId));
      // Same origin as the OFREP routes, so the page needs no CORS.
      app.get('/test/ofrep.html', (_request, reply) =>
        reply
          .type('text/html')
          .send('<!doctype html><title>flags</title><script src="/test/ofrep.js"></script>'),
      );
      app.get('/test/ofrep.js', (_request, reply) =>
        reply.type('text/javascript').send(bundle.outputFiles[0]!.text),
      );
      app.addHook('onResponse', async (request, reply) => {
        if (request.url.startsWith('/ofrep/')) responses.push({ url: request.url, status: reply.statusCode });
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      browser = await launching;
      close = () => app.close();
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await profile?.remove();
      await close?.();
      await env?.close();
    });

    type Read = {
      apiAccess: { value: boolean; reason: string; variant: string; flagMetadata: Record<string, unknown> };
      maxProjects: { value: number };
      sso: boolean;
      missing: { value: boolean; errorCode?: string };
      changes: number;
    };
    const read = (page: Page) => page.evaluate(() => (window as unknown as { read(): Read }).read());

    it('reads a tenant’s flags with its tenant key, then sees a change through polling', async () => {
      const page = await browser.newPage();
      await page.goto(`${base}/test/ofrep.html`);
      await page.evaluate(
        ([tenantId, token]) =>
          (window as unknown as { startFlags(t: string, k: string): Promise<void> }).startFlags(
            tenantId!,
            token!,
          ),
        [A, TENANT_A_TOKEN],
      );
      const first = await read(page);
      expect(first.apiAccess).toMatchObject({
        value: true,
        reason: 'TARGETING_MATCH',
        variant: 'starter',
        flagMetadata: { source: 'plan' },
      });
      expect(first.maxProjects.value).toBe(PLAN_FIXTURES.starter.features.max_projects);
      expect(first.sso).toBe(false);
      expect(first.missing).toMatchObject({ value: true, errorCode: 'FLAG_NOT_FOUND' });

      // Polls while nothing changed are answered 304.
      await expect
        .poll(() => responses.filter((r) => r.status === 304).length, { timeout: 15_000 })
        .toBeGreaterThan(0);
      await setFeatureOverride(env.prisma, A, 'sso', true, { featureReader: env.featureSync.reader });
      await expect.poll(async () => (await read(page)).sso, { timeout: 15_000 }).toBe(true);
      expect((await read(page)).changes).toBeGreaterThan(0);
      expect(responses.every((r) => r.url === '/ofrep/v1/evaluate/flags')).toBe(true);
      await page.close();
    });
  },
);
