import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFeature, setFeatureOverride } from '../src/flows/management/index.js';
import { createUsageAlertDispatcher, createUsageService, listUsageAlerts } from '../src/flows/usage/index.js';
import { ADMIN_TOKEN, TENANT_A_TOKEN } from './admin-helpers.js';
import {
  chromiumPath,
  CHROMIUM_ARGS,
  freshProfileDir,
  setupConsoleEnv,
  type ConsoleTestEnv,
} from './console-helpers.js';

// End to end through a real browser: the console's pages, forms, cookies and redirects as an
// operator uses them. The HTTP-level rules (CSRF, roles) are pinned in console-http.test.ts.
const executablePath = chromiumPath();
if (!executablePath)
  console.warn(
    'console.browser.test.ts SKIPPED: no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)',
  );

// The docs' screenshots are made by this test, but only rewritten when asked (CONSOLE_SCREENSHOTS=1):
// an ordinary run must not leave the checkout dirty with pixel-level differences.
const SHOTS =
  process.env.CONSOLE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../docs/console/', import.meta.url))
    : `${tmpdir()}/console-screenshots-${process.pid}/`;

describe.skipIf(!executablePath)('admin console in Chromium', { timeout: 60_000 }, () => {
  let t: ConsoleTestEnv;
  let base: string;
  let browser: BrowserContext;
  let profile: Awaited<ReturnType<typeof freshProfileDir>>;

  // Generous limits: on a loaded machine Chromium alone can take several seconds to start. The
  // browser starts while the database and emulator are being seeded.
  beforeAll(async () => {
    profile = await freshProfileDir();
    const launching = chromium.launchPersistentContext(profile.dir, {
      executablePath: executablePath!,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 800 },
    });
    const [env, launched] = await Promise.allSettled([setupConsoleEnv('web'), launching]);
    if (env.status === 'fulfilled') t = env.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (env.status === 'rejected') throw env.reason;
    if (launched.status === 'rejected') throw launched.reason;
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    mkdirSync(SHOTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await profile?.remove();
    await t?.close();
    if (process.env.CONSOLE_SCREENSHOTS !== '1') rmSync(SHOTS, { recursive: true, force: true });
  });

  const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

  async function signIn(page: Page, token: string) {
    await page.goto(`${base}/admin`);
    // Not signed in: the console sends us to its sign-in page.
    await expect.poll(() => new URL(page.url()).pathname).toBe('/admin/login');
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  it('signs an admin in, finds a tenant and shows where each feature comes from', async () => {
    const page = await browser.newPage();
    await signIn(page, ADMIN_TOKEN);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    expect(await page.locator('.figures dd').first().textContent()).toBe('3');
    await shot(page, 'overview');

    await page.getByRole('link', { name: 'Tenants', exact: true }).click();
    await page.getByLabel('Search').fill(t.B);
    await page.getByRole('button', { name: 'Filter' }).click();
    const rows = page.locator('table tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    await page.getByRole('link', { name: t.B }).click();
    await page.getByRole('heading', { name: 'Effective features' }).waitFor();
    // Tenant B is on Pro, whose price raises max_users from 25 to 30.
    const maxUsers = page.locator('tr', { has: page.locator('code', { hasText: /^max_users$/ }) });
    expect(await maxUsers.locator('.origin').textContent()).toBe('price');
    const sso = page.locator('tr', { has: page.locator('code', { hasText: /^advanced_analytics$/ }) });
    expect(await sso.locator('.origin').textContent()).toBe('plan (product)');
    await shot(page, 'tenant');
    await page.close();
  });

  it('sets and clears an override, each leaving an audit entry', async () => {
    const page = await browser.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${base}/admin/tenants/${t.B}`);
    await page.getByLabel('Feature', { exact: true }).selectOption('max_users');
    await page.getByLabel('Value', { exact: true }).fill('250');
    await page.getByRole('button', { name: 'Set override' }).click();
    await page.getByText('Override max_users = 250 set.').waitFor();
    const maxUsers = page.locator('tr', { has: page.locator('code', { hasText: /^max_users$/ }) });
    expect(await maxUsers.locator('.origin').textContent()).toBe('override');
    expect((await maxUsers.locator('td').first().textContent())?.trim()).toBe('250');
    const latest = page.locator('.timeline > li').first();
    expect(await latest.locator('strong').textContent()).toBe('override_set');
    expect(await latest.locator('.diff-lines').textContent()).toMatch(/features\.max_users:\s*30\s*→\s*250/);

    await page.getByRole('button', { name: 'Clear override max_users' }).click();
    await page.getByText('Override max_users cleared.').waitFor();
    expect(await maxUsers.locator('.origin').textContent()).toBe('price');
    expect((await maxUsers.locator('td').first().textContent())?.trim()).toBe('30');
    expect(await page.locator('.timeline > li').first().locator('strong').textContent()).toBe(
      'override_cleared',
    );
    expect(await t.env.featureSync.reader.getTenantFeatures(t.B)).toMatchObject({
      features: { max_users: 30 },
    });
    await page.close();
  });

  it('fixes a drifting tenant from the drift page, with an audit entry naming the operator', async () => {
    // Drift: the stored plan loses a feature Stripe still grants (a hand edit, a lost webhook).
    const C = t.tenants[2]!.tenantId;
    await t.env.prisma.tenantFeatureConfig.update({
      where: { tenantId: C },
      data: { features: { api_access: false } },
    });
    const page = await browser.newPage();
    await page.goto(`${base}/admin/drift`);
    const row = page.locator('tr', { has: page.getByRole('link', { name: C }) });
    await row.waitFor();
    await shot(page, 'drift');
    await row.getByRole('button', { name: `Fix ${C}` }).click();
    await page.getByText(`Tenant ${C}: 1 fixed.`).waitFor();
    expect(await page.getByText('No drift').count()).toBe(1);

    await page.goto(`${base}/admin/audit?tenant=${C}`);
    const entry = page.locator('.timeline > li').first();
    expect(await entry.locator('strong').textContent()).toBe('reconcile');
    expect(await entry.locator('code').first().textContent()).toBe('admin:ops');
    expect(await entry.locator('.diff-lines').textContent()).toContain('features.api_access');
    await page.goto(`${base}/admin/audit`);
    await shot(page, 'audit');
    await page.close();
  });

  it('lists a failed webhook event with its reason and replays it', async () => {
    const eventId = await t.failedEvent(t.A);
    const page = await browser.newPage();
    await page.goto(`${base}/admin/inbox?status=failed`);
    page.on('dialog', (dialog) => void dialog.accept());
    const row = page.locator('tr', { hasText: eventId });
    expect(await row.locator('.reason').textContent()).toMatch(/StripeServerError|500/);
    await shot(page, 'inbox');
    await row.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Replay selected' }).click();
    await page.getByText('1 event replayed').waitFor();
    // No worker runs in this server, so the replay was processed in the request: Stripe answered this time.
    const replayed = page.locator('tr', { hasText: eventId });
    expect(await replayed.locator('.badge').textContent()).toBe('processed');
    expect((await t.env.prisma.processedStripeEvent.findUnique({ where: { eventId } }))?.status).toBe(
      'processed',
    );
    await page.goto(`${base}/admin/catalog`);
    await shot(page, 'catalog');
    await page.close();
  });

  it('replays a usage alert the host never took, from the tenant page', async () => {
    const reader = { featureReader: t.env.featureSync.reader };
    await addFeature(t.env.prisma, {
      key: 'web.calls',
      type: 'number',
      description: 'Calls',
      usage: { reset: 'month', overage: 'reject' },
    });
    await setFeatureOverride(t.env.prisma, t.B, 'web.calls', 10, reader);
    const alerting = createUsageService(t.env.prisma, { ...reader, recordAlerts: true, sweepIntervalMs: 0 });
    try {
      await alerting.track(t.B, 'web.calls', 8);
    } finally {
      alerting.close();
    }
    const down = createUsageAlertDispatcher(t.env.prisma, {
      url: 'http://127.0.0.1:9/usage-alerts',
      secret: 'whsec_console',
      maxAttempts: 1,
      timeoutMs: 2_000,
    });
    expect(await down.deliverDue()).toBe(0);
    const [alert] = await listUsageAlerts(t.env.prisma, { tenantId: t.B });
    const page = await browser.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${base}/admin/tenants/${t.B}`);
    const row = page.locator('tr', { hasText: `evt_usage_${alert!.id}` });
    expect(await row.locator('.badge').textContent()).toBe('failed');
    await row.getByRole('button', { name: `Replay alert evt_usage_${alert!.id}` }).click();
    await page.getByText(`Alert evt_usage_${alert!.id} will be sent to the host again.`).waitFor();
    expect(
      await page
        .locator('tr', { hasText: `evt_usage_${alert!.id}` })
        .locator('.badge')
        .textContent(),
    ).toBe('pending');
    const latest = page.locator('.timeline > li').first();
    expect(await latest.locator('strong').textContent()).toBe('usage_alert_replayed');
    await page.close();
  });

  it('previews a plan edit, with the tenants it changes, then saves it to Stripe', async () => {
    const starter = t.plans.starter.product.id;
    const page = await browser.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    try {
      await page.goto(`${base}/admin`);
      await page.getByRole('link', { name: 'Plans', exact: true }).click();
      await page.getByRole('link', { name: `Edit product ${starter}` }).click();
      const metadata = page.getByLabel(/^Metadata, one/);
      const current = await metadata.inputValue();
      expect(current).toContain('featuresJson={"max_projects":3,"max_users":5}');
      await metadata.fill(current.replace('"max_projects":3', '"max_projects":7'));
      await page.getByRole('button', { name: 'Preview the change' }).click();
      const changed = page
        .locator('table', { has: page.locator('caption', { hasText: 'Tenants that would change' }) })
        .locator('tbody tr');
      await expect.poll(() => changed.count()).toBe(1);
      expect((await changed.textContent())?.replace(/\s+/g, ' ')).toContain(`${t.A} max_projects: 3 → 7`);
      // Nothing is written before the operator confirms.
      expect((await t.env.stripe.products.retrieve(starter)).metadata.featuresJson).toBe(
        '{"max_projects":3,"max_users":5}',
      );
      await shot(page, 'plan-preview');
      await page.getByRole('button', { name: 'Save in Stripe' }).click();
      await page.getByText(`${starter} saved in Stripe`).waitFor();
      expect((await t.env.stripe.products.retrieve(starter)).metadata.featuresJson).toBe(
        '{"max_projects":7,"max_users":5}',
      );
    } finally {
      await t.env.stripe.products.update(starter, { metadata: t.plans.starter.fixture.productMetadata });
      t.env.featureSync.stripeSync.invalidatePlan(starter);
      await page.close();
    }
  });

  it('shows a tenant token its own tenant read-only and nothing else', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/admin`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.goto(`${base}/admin/login`);
    await page.getByLabel('API token').fill(TENANT_A_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Effective features' }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/admin/tenants/${t.A}`);
    expect(await page.locator('main form').count()).toBe(0);
    expect(await page.getByText('Comes from').count()).toBe(0);
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, 'tenant-token-phone');

    const other = await page.goto(`${base}/admin/tenants/${t.B}`);
    expect(other?.status()).toBe(403);
    expect((await page.goto(`${base}/admin/tenants`))?.status()).toBe(403);
    expect((await page.goto(`${base}/admin/audit`))?.status()).toBe(403);
    await page.close();
  });
});
