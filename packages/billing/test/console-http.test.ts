import { createHash } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../src/entry/server/app.js';
import { createApiToken, revokeApiToken } from '../src/io/http/auth.js';
import { addFeature, setFeatureOverride } from '../src/flows/management/index.js';
import {
  createUsageAlertDispatcher,
  createUsageMeterReporter,
  createUsageService,
  listUsageAlerts,
} from '../src/flows/usage/index.js';
import { ADMIN_TOKEN, TENANT_A_TOKEN } from './admin-helpers.js';
import { setupConsoleEnv } from './console-helpers.js';
import { closeAfterAll } from './helpers/use-env.js';

// The console's security rules at the HTTP level: sessions, CSRF, roles, headers. The browser
// test (console.browser.test.ts) drives the same pages as an operator would.
const t = closeAfterAll(await setupConsoleEnv('con'));

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const setCookie = (res: LightMyRequestResponse) => String(res.headers['set-cookie'] ?? '');
const csrfIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

const cookiesOf = (res: LightMyRequestResponse) =>
  [res.headers['set-cookie'] ?? []].flat().map((c) => String(c).split(';')[0]!);

/** The sign-in form as a browser gets it: its nonce cookie and the CSRF token it carries. */
async function signInForm() {
  const page = await t.app.inject({ method: 'GET', url: '/admin/login' });
  const loginCookie = cookiesOf(page).find((c) => c.startsWith('entitlements_console_login='))!;
  return { loginCookie, csrf: csrfIn(page.body) };
}

async function signIn(token: string, headers: Record<string, string> = {}, next = '/admin/drift') {
  const { loginCookie, csrf } = await signInForm();
  const res = await t.app.inject({
    method: 'POST',
    url: '/admin/login',
    headers: { ...FORM, cookie: loginCookie, ...headers },
    payload: form({ token, next, _csrf: csrf }),
  });
  const cookie = cookiesOf(res).find((c) => c.startsWith('entitlements_console=')) ?? '';
  return { res, cookie };
}

/** A signed-in session: its cookie and the CSRF token its pages carry. */
async function session(token: string) {
  const { cookie } = await signIn(token);
  const page = await t.app.inject({ method: 'GET', url: '/admin/login', headers: { cookie } });
  // The sign-in page has no session forms; any signed-in page carries the token in its sign-out form.
  const tenantPage = await t.app.inject({ method: 'GET', url: `/admin/tenants/${t.A}`, headers: { cookie } });
  expect(page.statusCode).toBe(200);
  return { cookie, csrf: csrfIn(tenantPage.body) };
}

const auditCount = () => t.env.prisma.featureAuditLog.count();

describe('sign-in and session cookie', () => {
  it('sends a visitor without a session to the sign-in page, remembering where they were going', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/admin/tenants?q=x' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/login?next=%2Fadmin%2Ftenants%3Fq%3Dx');
  });

  it('refuses a wrong token and sets no session cookie', async () => {
    const { res, cookie } = await signIn('not-a-valid-token-at-all-0123');
    expect(res.statusCode).toBe(401);
    expect(cookie).toBe('');
    expect(res.body).toContain('Invalid or revoked token');
  });

  it('keeps the session in an HttpOnly, SameSite=Strict cookie, Secure behind https', async () => {
    const { res } = await signIn(ADMIN_TOKEN);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/drift');
    const cookie = [res.headers['set-cookie']]
      .flat()
      .map(String)
      .find((c) => c.startsWith('entitlements_console='))!;
    expect(cookie).toMatch(
      /^entitlements_console=[^;]+; Path=\/admin; HttpOnly; SameSite=Strict; Max-Age=28800$/,
    );
    // Only the token's hash is in the cookie, never the token.
    expect(Buffer.from(cookie.split('=')[1]!.split('.')[0]!, 'base64url').toString()).not.toContain(
      ADMIN_TOKEN,
    );
    const behindTls = await signIn(ADMIN_TOKEN, { 'x-forwarded-proto': 'https' });
    expect(setCookie(behindTls.res)).toMatch(/^entitlements_console=[^;]+;[^,]*; Secure/);
  });

  it('never redirects off the console after sign-in', async () => {
    const { res } = await signIn(ADMIN_TOKEN, {}, '//evil.example/admin');
    expect(res.headers.location).toBe('/admin');
  });

  it('refuses a sign-in form posted from another site', async () => {
    const { res, cookie } = await signIn(ADMIN_TOKEN, { 'sec-fetch-site': 'cross-site' });
    expect(res.statusCode).toBe(403);
    expect(cookie).toBe('');
  });

  it('treats a tampered cookie as no session', async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    const [name, value] = cookie.split('=') as [string, string];
    const [sid, sig] = value.split('.') as [string, string];
    const swap = (text: string) => `${text[0] === 'A' ? 'B' : 'A'}${text.slice(1)}`;
    for (const tampered of [`${name}=${swap(sid)}.${sig}`, `${name}=${sid}.${swap(sig)}`]) {
      const res = await t.app.inject({ method: 'GET', url: '/admin', headers: { cookie: tampered } });
      expect(res.statusCode).toBe(303);
      expect(res.headers.location).toMatch(/^\/admin\/login/);
    }
  });

  it('ends every session of a token when the token is revoked', async () => {
    const created = await createApiToken(t.env.prisma, { name: 'temp-ops', role: 'admin' });
    const { cookie } = await signIn(created.token);
    expect((await t.app.inject({ method: 'GET', url: '/admin', headers: { cookie } })).statusCode).toBe(200);
    await revokeApiToken(t.env.prisma, created.id);
    const after = await t.app.inject({ method: 'GET', url: '/admin', headers: { cookie } });
    expect(after.statusCode).toBe(303);
  });

  it('is off (503) on a server without CONSOLE_SESSION_SECRET, and the JSON API is unaffected', async () => {
    const app = await buildServer({ prisma: t.env.prisma, stripe: t.env.stripe } as Parameters<
      typeof buildServer
    >[0]);
    try {
      const res = await app.inject({ method: 'GET', url: '/admin/login' });
      expect(res.statusCode).toBe(503);
      expect(res.body).toContain('CONSOLE_SESSION_SECRET');
      expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('server-side sessions', () => {
  const describeSso = (cookie: string, csrf: string) =>
    t.app.inject({
      method: 'POST',
      url: '/admin/catalog/describe',
      headers: { ...FORM, cookie },
      payload: form({ key: 'sso', description: 'Single sign-on', _csrf: csrf }),
    });

  it('sign-out ends the session on the server: the old cookie neither reads nor writes', async () => {
    const { cookie, csrf } = await session(ADMIN_TOKEN);
    expect((await t.app.inject({ method: 'GET', url: '/admin', headers: { cookie } })).statusCode).toBe(200);
    const out = await t.app.inject({
      method: 'POST',
      url: '/admin/logout',
      headers: { ...FORM, cookie },
      payload: form({ _csrf: csrf }),
    });
    expect(out.statusCode).toBe(303);
    // A copy of the cookie kept from before (another tab, a stolen copy) is dead too.
    const read = await t.app.inject({ method: 'GET', url: '/admin/tenants', headers: { cookie } });
    expect(read.statusCode).toBe(303);
    expect(read.headers.location).toMatch(/^\/admin\/login/);
    const write = await describeSso(cookie, csrf);
    expect(write.statusCode).toBe(401);
  });

  it('the cookie carries no token material: a random id, different at each sign-in', async () => {
    const first = (await signIn(ADMIN_TOKEN)).cookie.split('=')[1]!;
    const second = (await signIn(ADMIN_TOKEN)).cookie.split('=')[1]!;
    expect(first).not.toBe(second);
    const digest = createHash('sha256').update(ADMIN_TOKEN).digest();
    for (const spelling of [
      digest.toString('hex'),
      digest.toString('base64url'),
      digest.toString('base64'),
    ]) {
      expect(first).not.toContain(spelling);
      expect(Buffer.from(first.split('.')[0]!, 'base64url').toString('hex')).not.toContain(
        digest.toString('hex'),
      );
    }
  });

  it('an expired session ends, whatever the cookie says', async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    expect((await t.app.inject({ method: 'GET', url: '/admin', headers: { cookie } })).statusCode).toBe(200);
    const sid = cookie.split('=')[1]!.split('.')[0]!;
    const idHash = createHash('sha256').update(sid).digest('hex');
    await t.env.prisma.consoleSession.update({
      where: { idHash },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const res = await t.app.inject({ method: 'GET', url: '/admin', headers: { cookie } });
    expect(res.statusCode).toBe(303);
  });

  it('sign-in CSRF does not rest on Sec-Fetch-Site: Origin, Referer and the form token are checked', async () => {
    const attempts: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { referer: 'https://evil.example/page' },
      { origin: 'null' },
    ];
    for (const headers of attempts) {
      const { res, cookie } = await signIn(ADMIN_TOKEN, headers);
      expect(res.statusCode, JSON.stringify(headers)).toBe(403);
      expect(cookie).toBe('');
    }
    // No Origin, Referer or Sec-Fetch-Site at all (an old browser, a script): the form token decides.
    const post = (cookie: string | undefined, csrf: string | undefined) =>
      t.app.inject({
        method: 'POST',
        url: '/admin/login',
        headers: { ...FORM, ...(cookie ? { cookie } : {}) },
        payload: form({ token: ADMIN_TOKEN, next: '/admin', ...(csrf !== undefined ? { _csrf: csrf } : {}) }),
      });
    const a = await signInForm();
    const b = await signInForm();
    for (const res of [
      await post(undefined, undefined),
      await post(a.loginCookie, undefined),
      await post(a.loginCookie, b.csrf),
      await post(undefined, a.csrf),
    ]) {
      expect(res.statusCode).toBe(403);
      expect(cookiesOf(res).some((c) => c.startsWith('entitlements_console='))).toBe(false);
    }
    // The console's own form, with the host's own Origin: accepted.
    const ok = await signIn(ADMIN_TOKEN, {
      origin: 'http://console.example:8080',
      referer: 'http://console.example:8080/admin/login',
      host: 'console.example:8080',
    });
    expect(ok.res.statusCode).toBe(303);
  });

  it('a flash cookie the console did not sign is not shown', async () => {
    const { cookie } = await session(ADMIN_TOKEN);
    const forged = Buffer.from(JSON.stringify({ kind: 'ok', text: 'Call support at +1 555 0100' })).toString(
      'base64url',
    );
    const res = await t.app.inject({
      method: 'GET',
      url: '/admin',
      headers: { cookie: `${cookie}; entitlements_console_flash=${forged}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('+1 555 0100');
  });
});

describe('control characters in console queries', () => {
  it.each([
    '/admin/tenants?q=%00',
    '/admin/tenants?after=%00',
    '/admin/tenants?plan=%00',
    '/admin/audit?tenant=%00',
    '/admin/tenants/%00',
    '/admin/tenants?q=%1B%5B31m',
  ])('%s → 400 page, not 500', async (url) => {
    const { cookie } = await session(ADMIN_TOKEN);
    const res = await t.app.inject({ method: 'GET', url, headers: { cookie } });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
    expect(res.body).toContain('must not contain control characters');
  });
});

describe('next= after sign-in', () => {
  it.each([
    ['/admin/tenants?q=a', '/admin/tenants?q=a'],
    ['/admin', '/admin'],
    ['/admin/./tenants', '/admin/tenants'],
    ['/admin/tenants/caf\u00e9', '/admin/tenants/caf%C3%A9'],
    ['/admin\r\nX-Evil: 1', '/admin'],
    ['/admin\u202e\u00e9', '/admin'],
    ['/admin/../../x', '/admin'],
    ['/admin/%2e%2e/x', '/admin'],
    ['/admin.evil.com', '/admin'],
    ['/admin@evil.com', '/admin'],
    ['//evil.example/admin', '/admin'],
    ['/\\evil.example/admin', '/admin'],
    ['https://evil.example/admin/', '/admin'],
  ])('%j → %s', async (next, location) => {
    const { res } = await signIn(ADMIN_TOKEN, {}, next);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(location);
  });

  it('a sign-in page asked for a hostile next= answers a page, never a 500', async () => {
    // Control characters are refused at the edge (400 page); other hostile values fall back to /admin.
    const crlf = await t.app.inject({ method: 'GET', url: '/admin/login?next=/admin%0d%0aX-Evil:%201' });
    expect(crlf.statusCode).toBe(400);
    const other = await t.app.inject({ method: 'GET', url: '/admin/login?next=/admin%E2%80%AE%C3%A9' });
    expect(other.statusCode).toBe(200);
    expect(other.body).toContain('name="next" value="/admin"');
  });
});

describe('CSRF', () => {
  const fixDrift = (cookie: string, csrf?: string) =>
    t.app.inject({
      method: 'POST',
      url: '/admin/drift/fix',
      headers: { ...FORM, cookie },
      payload: form({ tenantId: t.A, ...(csrf !== undefined ? { _csrf: csrf } : {}) }),
    });
  const applyPlan = (cookie: string, csrf?: string) =>
    t.app.inject({
      method: 'POST',
      url: `/admin/tenants/${t.A}/apply-plan`,
      headers: { ...FORM, cookie },
      payload: form({ planId: t.plans.enterprise.price.id, ...(csrf !== undefined ? { _csrf: csrf } : {}) }),
    });

  it('refuses a change without the token, or with another session’s token, and writes nothing', async () => {
    const mine = await session(ADMIN_TOKEN);
    const other = await session(ADMIN_TOKEN);
    expect(mine.csrf).not.toBe('');
    expect(other.csrf).not.toBe(mine.csrf);
    const before = await auditCount();
    for (const res of [
      await applyPlan(mine.cookie),
      await applyPlan(mine.cookie, ''),
      await applyPlan(mine.cookie, other.csrf),
      await fixDrift(mine.cookie),
    ]) {
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('CSRF');
    }
    expect(await auditCount()).toBe(before);
    const config = await t.env.prisma.tenantFeatureConfig.findUniqueOrThrow({ where: { tenantId: t.A } });
    expect(config.bundle).toBe('starter');
  });

  it('accepts the same change with the session’s token', async () => {
    const mine = await session(ADMIN_TOKEN);
    const before = await auditCount();
    const res = await applyPlan(mine.cookie, mine.csrf);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/admin/tenants/${t.A}`);
    expect(await auditCount()).toBe(before + 1);
    const entry = await t.env.prisma.featureAuditLog.findFirstOrThrow({ orderBy: { id: 'desc' } });
    expect(entry).toMatchObject({ tenantId: t.A, actor: 'admin:ops', source: 'admin' });
    // Back to what Stripe says, for the tests after this one.
    await t.env.featureSync.syncAllTenantsFromStripe({ actor: 'test', source: 'sync', force: true });
  });
});

describe('tenant tokens', () => {
  it('see their own tenant read-only and nothing else', async () => {
    const { res, cookie } = await signIn(TENANT_A_TOKEN);
    expect(res.headers.location).toBe(`/admin/tenants/${t.A}`);
    const own = await t.app.inject({ method: 'GET', url: `/admin/tenants/${t.A}`, headers: { cookie } });
    expect(own.statusCode).toBe(200);
    expect(own.body).not.toContain('Apply a plan');
    expect(own.body).not.toContain('Comes from');
    const landing = await t.app.inject({ method: 'GET', url: '/admin', headers: { cookie } });
    expect(landing.headers.location).toBe(`/admin/tenants/${t.A}`);
    for (const url of [
      `/admin/tenants/${t.B}`,
      '/admin/tenants',
      '/admin/audit',
      `/admin/audit?tenant=${t.A}`,
      '/admin/inbox',
      '/admin/drift',
      '/admin/catalog',
      `/admin/tenants/${t.A}/apply-plan?planId=x`,
      '/admin/plans',
      `/admin/plans?planId=${t.plans.starter.product.id}`,
    ]) {
      const r = await t.app.inject({ method: 'GET', url, headers: { cookie } });
      expect(r.statusCode, url).toBe(403);
    }
  });

  it('cannot change anything, even with a valid CSRF token of its own session', async () => {
    const mine = await session(TENANT_A_TOKEN);
    expect(mine.csrf).not.toBe('');
    const before = await auditCount();
    for (const [url, fields] of [
      [`/admin/tenants/${t.A}/apply-plan`, { planId: t.plans.enterprise.price.id }],
      ['/admin/drift/fix', { tenantId: t.A }],
      [`/admin/tenants/${t.A}/custom-plans`, { planName: 'x' }],
      ['/admin/inbox/replay', { status: 'failed' }],
      [`/admin/tenants/${t.A}/usage/alerts/replay`, { alertId: '1' }],
      ['/admin/plans/preview', { planId: t.plans.starter.product.id, metadata: 'a=b' }],
      [
        '/admin/plans/edit',
        { planId: t.plans.starter.product.id, metadata: '{"a":"b"}', seen: '0'.repeat(32) },
      ],
    ] as const) {
      const res = await t.app.inject({
        method: 'POST',
        url,
        headers: { ...FORM, cookie: mine.cookie },
        payload: form({ ...fields, _csrf: mine.csrf }),
      });
      expect(res.statusCode, url).toBe(403);
    }
    expect(await auditCount()).toBe(before);
  });
});

describe('webhook inbox', () => {
  const replay = (cookie: string, fields: Record<string, string>) =>
    t.app.inject({
      method: 'POST',
      url: '/admin/inbox/replay',
      headers: { ...FORM, cookie },
      payload: form(fields),
    });
  const statusOf = async (eventId: string) =>
    (await t.env.prisma.processedStripeEvent.findUniqueOrThrow({ where: { eventId } })).status;

  it('lists a failed event with its reason and replays every failed event, only with the CSRF token', async () => {
    const eventId = await t.failedEvent(t.B);
    const mine = await session(ADMIN_TOKEN);
    const failedTab = await t.app.inject({
      method: 'GET',
      url: '/admin/inbox?status=failed',
      headers: { cookie: mine.cookie },
    });
    expect(failedTab.body).toContain(eventId);
    expect(failedTab.body).toContain('Replay all failed');
    expect(failedTab.body).toMatch(/class="reason">[^<]*subscriptions\.list/);

    const refused = await replay(mine.cookie, { status: 'failed' });
    expect(refused.statusCode).toBe(403);
    expect(await statusOf(eventId)).toBe('failed');

    const res = await replay(mine.cookie, { status: 'failed', _csrf: mine.csrf });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/inbox?status=recent');
    expect(await statusOf(eventId)).toBe('processed');
    const after = await t.app.inject({
      method: 'GET',
      url: '/admin/inbox?status=failed',
      headers: { cookie: mine.cookie },
    });
    expect(after.body).not.toContain(eventId);
  });

  it('refuses a malformed event id or an empty selection and changes nothing', async () => {
    const mine = await session(ADMIN_TOKEN);
    for (const fields of [{ eventIds: 'evt bad\u0000' }, {}] as Record<string, string>[]) {
      const res = await replay(mine.cookie, { ...fields, _csrf: mine.csrf });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
    }
    const badTab = await t.app.inject({
      method: 'GET',
      url: '/admin/inbox?status=nope',
      headers: { cookie: mine.cookie },
    });
    expect(badTab.statusCode).toBe(400);
  });
});

describe('pages', () => {
  it('escape data and carry a strict Content-Security-Policy', async () => {
    await t.env.prisma.tenant.update({ where: { id: t.B }, data: { name: '<script>alert(1)</script>' } });
    const { cookie } = await session(ADMIN_TOKEN);
    const res = await t.app.inject({ method: 'GET', url: `/admin/tenants/${t.B}`, headers: { cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('<script>alert(1)</script>');
    expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('render every admin page', async () => {
    const { cookie } = await session(ADMIN_TOKEN);
    for (const url of [
      '/admin',
      '/admin/tenants?plan=pro',
      '/admin/tenants?drift=yes',
      `/admin/audit?tenant=${t.A}&source=sync`,
      '/admin/inbox?status=failed',
      '/admin/drift',
      '/admin/catalog',
      `/admin/tenants/${t.A}/apply-plan?planId=${t.plans.pro.price.id}`,
      '/admin/plans',
      `/admin/plans?planId=${t.plans.pro.price.id}`,
    ]) {
      const res = await t.app.inject({ method: 'GET', url, headers: { cookie } });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toContain('text/html');
    }
  });

  it('filter tenants by search and by drift from Stripe', async () => {
    const { cookie } = await session(ADMIN_TOKEN);
    const list = async (query: string) => {
      const res = await t.app.inject({ method: 'GET', url: `/admin/tenants?${query}`, headers: { cookie } });
      expect(res.statusCode).toBe(200);
      return [...res.body.matchAll(/<a href="\/admin\/tenants\/([^"]+)">/g)].map((m) => m[1]);
    };
    expect(await list(`q=${t.B.toUpperCase()}`)).toEqual([t.B]);
    expect(await list(`q=${t.tenants[2]!.customerId}`)).toEqual([t.tenants[2]!.tenantId]);
    expect(await list('drift=yes')).toEqual([]);
    await t.env.prisma.tenantFeatureConfig.update({ where: { tenantId: t.B }, data: { bundle: 'gold' } });
    try {
      expect(await list('drift=yes')).toEqual([t.B]);
    } finally {
      await t.env.featureSync.syncAllTenantsFromStripe({ actor: 'test', source: 'sync', force: true });
    }
  });

  it('show a refused change as an error page and write nothing', async () => {
    const mine = await session(ADMIN_TOKEN);
    const before = await auditCount();
    const res = await t.app.inject({
      method: 'POST',
      url: `/admin/tenants/${t.A}/overrides`,
      headers: { ...FORM, cookie: mine.cookie },
      payload: form({ key: 'no_such_feature', value: 'true', _csrf: mine.csrf }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('no_such_feature');
    expect(await auditCount()).toBe(before);
  });

  it('answer an unknown console path with an HTML 404 page, and the API keeps its JSON 404', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/admin/no-such-page' });
    expect(page.statusCode).toBe(404);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('Not found');
    expect(page.body).toContain('href="/admin"');
    const wrongMethod = await t.app.inject({ method: 'DELETE', url: '/admin/login' });
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toContain('GET');
    expect(wrongMethod.headers['content-type']).toMatch(/^text\/html/);
    const api = await t.app.inject({ method: 'GET', url: '/api/admin/no-such-route' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    // A sibling path that merely starts with the prefix is not the console's.
    expect((await t.app.inject({ method: 'GET', url: '/administrator' })).json()).toMatchObject({
      error: { code: 'not_found' },
    });
  });

  it('show a missing tenant as a 404 page', async () => {
    const { cookie } = await session(ADMIN_TOKEN);
    const res = await t.app.inject({ method: 'GET', url: '/admin/tenants/nope', headers: { cookie } });
    expect(res.statusCode).toBe(404);
    expect(res.body).toContain('Not found');
  });
});

describe('usage panel', () => {
  it('shows each metered key against its limit, and an admin resets a counter (audited), a tenant cannot', async () => {
    const C = t.tenants[2]!.tenantId;
    const reader = { featureReader: t.env.featureSync.reader };
    await addFeature(t.env.prisma, {
      key: 'console.calls',
      type: 'number',
      description: 'Calls',
      usage: { reset: 'month', overage: 'reject' },
    });
    await setFeatureOverride(t.env.prisma, C, 'console.calls', 5, reader);
    expect(await t.usage.track(C, 'console.calls', 6)).toMatchObject({ allowed: false, used: 0 });
    expect(await t.usage.track(C, 'console.calls', 4)).toMatchObject({ allowed: true, used: 4 });
    const admin = await session(ADMIN_TOKEN);
    const page = await t.app.inject({
      method: 'GET',
      url: `/admin/tenants/${C}`,
      headers: { cookie: admin.cookie },
    });
    const row =
      /<tr>\s*<th scope="row">\s*<code>console\.calls<\/code>[\s\S]*?<\/tr>/.exec(page.body)?.[0] ?? '';
    const cells = [...row.matchAll(/<td class="num">([^<]*)<\/td>/g)].map((m) => m[1]!.trim());
    // Used, limit, remaining, reserved, overage.
    expect(cells).toEqual(['4', '5', '1', '0', '0']);
    expect(row).toContain('Reset usage console.calls');

    const mine = await session(TENANT_A_TOKEN);
    const own = await t.app.inject({
      method: 'GET',
      url: `/admin/tenants/${t.A}`,
      headers: { cookie: mine.cookie },
    });
    expect(own.body).toContain('id="h-usage"');
    expect(own.body).toContain('not entitled');
    expect(own.body).not.toContain('Reset usage');
    const reset = (cookie: string, csrf: string, tenant: string) =>
      t.app.inject({
        method: 'POST',
        url: `/admin/tenants/${tenant}/usage/reset`,
        headers: { ...FORM, cookie },
        payload: form({ key: 'console.calls', _csrf: csrf }),
      });
    expect((await reset(mine.cookie, mine.csrf, t.A)).statusCode).toBe(403);
    expect((await reset(admin.cookie, '', C)).statusCode).toBe(403);
    const done = await reset(admin.cookie, admin.csrf, C);
    expect(done.statusCode).toBe(303);
    expect(done.headers.location).toBe(`/admin/tenants/${C}`);
    const [meter] = (await t.usage.getUsage(C)).meters.filter((m) => m.key === 'console.calls');
    expect(meter).toMatchObject({ used: 0, remaining: 5 });
    const audit = await t.env.prisma.featureAuditLog.findMany({
      where: { tenantId: C, action: 'usage_set' },
    });
    expect(audit.map((a) => [a.actor, a.source])).toEqual([['admin:ops', 'admin']]);
  });

  it('an admin sees the tenant’s alert deliveries and replays one (CSRF, audited), and its Stripe meter reporting', async () => {
    const C = t.tenants[2]!.tenantId;
    const reader = { featureReader: t.env.featureSync.reader };
    await addFeature(t.env.prisma, {
      key: 'console.tokens',
      type: 'number',
      description: 'Tokens',
      usage: { reset: 'month', overage: 'allow', stripeMeter: 'console_tokens' },
    });
    await setFeatureOverride(t.env.prisma, C, 'console.tokens', 10, reader);
    const alerting = createUsageService(t.env.prisma, { ...reader, recordAlerts: true, sweepIntervalMs: 0 });
    try {
      await alerting.track(C, 'console.tokens', 9);
    } finally {
      alerting.close();
    }
    // The host's endpoint is down: the 80 % alert fails on its only attempt.
    const down = createUsageAlertDispatcher(t.env.prisma, {
      url: 'http://127.0.0.1:9/usage-alerts',
      secret: 'whsec_console',
      maxAttempts: 1,
      timeoutMs: 2_000,
    });
    expect(await down.deliverDue()).toBe(0);
    const [alert] = await listUsageAlerts(t.env.prisma, { tenantId: C });
    expect(alert).toMatchObject({ key: 'console.tokens', threshold: 80, status: 'failed' });
    // Stripe refuses the meter event once: the range waits, with Stripe's reason.
    t.env.emu.injectFault({ method: 'POST', path: '/v1/billing/meter_events', status: 500, count: 1 });
    const { stripeSync } = t.env.featureSync;
    const reporter = createUsageMeterReporter(t.env.prisma, {
      stripe: stripeSync.stripe,
      call: stripeSync.call,
    });
    expect(await reporter.reportDue()).toMatchObject({ failed: 1 });

    const admin = await session(ADMIN_TOKEN);
    const page = await t.app.inject({
      method: 'GET',
      url: `/admin/tenants/${C}`,
      headers: { cookie: admin.cookie },
    });
    const deliveries =
      /<section aria-labelledby="h-usage-alerts">[\s\S]*?<\/section>/.exec(page.body)?.[0] ?? '';
    expect(deliveries).toContain(`evt_usage_${alert!.id}`);
    expect(deliveries).toContain('usage.threshold_reached');
    expect(deliveries).toMatch(/<span class="badge warn">failed<\/span>/);
    expect(deliveries).toContain(`Replay alert evt_usage_${alert!.id}`);
    const meters = /<section aria-labelledby="h-usage-meters">[\s\S]*?<\/section>/.exec(page.body)?.[0] ?? '';
    const row = /<tr class="failed">[\s\S]*?<\/tr>/.exec(meters)?.[0] ?? '';
    expect(row).toContain('<code>console_tokens</code>');
    // Owed, sent, pending; the range in flight and its try.
    expect([...row.matchAll(/<td class="num">([^<]*)<\/td>/g)].map((m) => m[1]!.trim())).toEqual([
      '9',
      '0',
      '9',
    ]);
    expect(row).toMatch(/units 1–9, try\s+1/);
    expect(row).toMatch(/<span class="reason">[^<]+<\/span>/);

    const mine = await session(TENANT_A_TOKEN);
    const own = await t.app.inject({
      method: 'GET',
      url: `/admin/tenants/${t.A}`,
      headers: { cookie: mine.cookie },
    });
    expect(own.body).not.toContain('h-usage-alerts');
    expect(own.body).not.toContain('h-usage-meters');

    const replay = (cookie: string, csrf: string, tenant: string) =>
      t.app.inject({
        method: 'POST',
        url: `/admin/tenants/${tenant}/usage/alerts/replay`,
        headers: { ...FORM, cookie },
        payload: form({ alertId: String(alert!.id), _csrf: csrf }),
      });
    expect((await replay(admin.cookie, '', C)).statusCode).toBe(403);
    expect((await replay(mine.cookie, mine.csrf, C)).statusCode).toBe(403);
    // Another tenant's page does not reach this tenant's alert.
    expect((await replay(admin.cookie, admin.csrf, t.A)).statusCode).toBe(404);
    expect((await listUsageAlerts(t.env.prisma, { tenantId: C }))[0]).toMatchObject({ status: 'failed' });
    const done = await replay(admin.cookie, admin.csrf, C);
    expect(done.statusCode).toBe(303);
    expect(done.headers.location).toBe(`/admin/tenants/${C}`);
    expect((await listUsageAlerts(t.env.prisma, { tenantId: C }))[0]).toMatchObject({
      status: 'pending',
      attempts: 0,
    });
    const audit = await t.env.prisma.featureAuditLog.findMany({
      where: { tenantId: C, action: 'usage_alert_replayed' },
    });
    expect(audit.map((a) => [a.actor, a.source])).toEqual([['admin:ops', 'admin']]);
  });
});

describe('plan edit with a preview', () => {
  const starter = () => t.plans.starter.product.id;
  const entities = (s: string) =>
    s
      .replaceAll('&quot;', '"')
      .replaceAll('&#39;', "'")
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&amp;', '&');
  /** A page's text, tags out and white space collapsed. */
  const textOf = (body: string) =>
    entities(body.replace(/<[^>]+>/g, ' '))
      .replace(/\s+/g, ' ')
      .replace(/ :/g, ':')
      .trim();
  const hidden = (body: string, name: string) =>
    entities(new RegExp(`name="${name}" value="([^"]*)"`).exec(body)?.[1] ?? '');
  const lines = (metadata: Record<string, string>) =>
    Object.entries(metadata)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
  const stripeMetadata = async () => (await t.env.stripe.products.retrieve(starter())).metadata;
  const starterMeta = () => t.plans.starter.fixture.productMetadata;

  it('shows which tenants an edit changes and who would go over a metered limit, and saves it to Stripe only when confirmed', async () => {
    await addFeature(t.env.prisma, {
      key: 'plan.calls',
      type: 'number',
      description: 'Calls',
      usage: { reset: 'never', overage: 'reject' },
    });
    const admin = await session(ADMIN_TOKEN);
    const get = (url: string) => t.app.inject({ method: 'GET', url, headers: { cookie: admin.cookie } });
    const confirm = (fields: Record<string, string>) =>
      t.app.inject({
        method: 'POST',
        url: '/admin/plans/edit',
        headers: { ...FORM, cookie: admin.cookie },
        payload: form(fields),
      });
    const preview = async (metadata: Record<string, string>) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/admin/plans/preview',
        headers: { ...FORM, cookie: admin.cookie },
        payload: form({ planId: starter(), metadata: lines(metadata), _csrf: admin.csrf }),
      });
      expect(res.statusCode).toBe(200);
      return res;
    };
    try {
      // The plans tenants are on link to their edit, which starts from the product's metadata in Stripe.
      const list = await get('/admin/plans');
      expect(list.statusCode).toBe(200);
      expect(list.body).toContain(`href="/admin/plans?planId=${starter()}"`);
      const edit = await get(`/admin/plans?planId=${starter()}`);
      expect(entities(edit.body)).toContain('featuresJson={"max_projects":3,"max_users":5}');

      // Tenant A is the one starter tenant: the preview names it with each key before → after.
      const raised = { ...starterMeta(), featuresJson: '{"max_projects":4,"max_users":5,"plan.calls":10}' };
      const first = await preview(raised);
      const text = textOf(first.body);
      expect(text).toContain('Nothing has been written yet');
      expect(text).toContain(
        `Tenants that would change Tenant Changes (before → after) ${t.A} max_projects: 3 → 4 plan.calls: — → 10`,
      );
      expect(text).toMatch(/Would change\s*1/);
      expect(text).not.toContain('over a metered limit Tenant');

      // Not without the session's CSRF token, and not written meanwhile.
      const fields = {
        planId: starter(),
        metadata: hidden(first.body, 'metadata'),
        seen: hidden(first.body, 'seen'),
      };
      expect(JSON.parse(fields.metadata)).toEqual(raised);
      expect((await confirm(fields)).statusCode).toBe(403);
      expect(await stripeMetadata()).toEqual(starterMeta());
      const saved = await confirm({ ...fields, _csrf: admin.csrf });
      expect(saved.statusCode).toBe(303);
      expect(saved.headers.location).toBe(`/admin/plans?planId=${starter()}`);
      expect(await stripeMetadata()).toEqual(raised);
      // The change reaches the tenant as product.updated would carry it.
      await t.env.featureSync.syncAllTenantsFromStripe({ actor: 'test', source: 'sync', force: true });
      expect((await t.env.featureSync.reader.getTenantFeatures(t.A))?.features).toMatchObject({
        max_projects: 4,
        'plan.calls': 10,
      });

      // With 8 calls used, lowering the limit to 5 puts tenant A over it.
      expect(await t.usage.track(t.A, 'plan.calls', 8)).toMatchObject({ allowed: true, used: 8 });
      const lowered = { ...raised, featuresJson: '{"max_projects":4,"max_users":5,"plan.calls":5}' };
      const second = await preview(lowered);
      expect(textOf(second.body)).toContain(
        `Tenants that would be over a metered limit Tenant Key Used this period Limit before Limit after ${t.A} plan.calls 8 10 5`,
      );
      expect(textOf(second.body)).toMatch(/Over a metered limit\s*1/);

      // Stripe's metadata changed after the preview: the confirm saves nothing and shows a fresh preview.
      await t.env.stripe.products.update(starter(), { metadata: { note: 'edited elsewhere' } });
      const stale = await confirm({
        planId: starter(),
        metadata: hidden(second.body, 'metadata'),
        seen: hidden(second.body, 'seen'),
        _csrf: admin.csrf,
      });
      expect(stale.statusCode).toBe(409);
      expect(await stripeMetadata()).toEqual({ ...raised, note: 'edited elsewhere' });
      const again = stale;
      expect(textOf(again.body)).toContain('was changed in Stripe after your preview; nothing was saved');
      // The fresh preview removes the key the other edit added, since the operator's metadata lacks it.
      expect(textOf(again.body)).toMatch(
        /Metadata changes Key Before After featuresJson .* note edited elsewhere —/,
      );
    } finally {
      await t.env.stripe.products.update(starter(), {
        metadata: { ...starterMeta(), note: '' },
      });
      t.env.featureSync.stripeSync.invalidatePlan(starter());
      await t.env.featureSync.syncAllTenantsFromStripe({ actor: 'test', source: 'sync', force: true });
    }
  });

  it('refuses a malformed edit and writes nothing', async () => {
    const admin = await session(ADMIN_TOKEN);
    const bad = await t.app.inject({
      method: 'POST',
      url: '/admin/plans/preview',
      headers: { ...FORM, cookie: admin.cookie },
      payload: form({ planId: starter(), metadata: 'bundle=starter\nno equals sign', _csrf: admin.csrf }),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('Line 2 of the metadata is not key=value');
    const forged = await t.app.inject({
      method: 'POST',
      url: '/admin/plans/edit',
      headers: { ...FORM, cookie: admin.cookie },
      payload: form({ planId: starter(), metadata: '{"bundle":"x"}', seen: 'nope', _csrf: admin.csrf }),
    });
    expect(forged.statusCode).toBe(400);
    expect(await stripeMetadata()).toEqual(starterMeta());
  });
});
