import { describe, expect, it } from 'vitest';
import { runManageCli } from '../src/entry/cli/manage.js';
import { createMemoryCache } from '../src/io/cache/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { ADMIN_TOKEN, bearer, captureStream } from './admin-helpers.js';
import { createTenant } from './helpers/fixtures.js';
import { useAdminApp, useAdminTestEnv } from './helpers/use-env.js';

/**
 * NUL, ESC and the other C0 controls are refused at the edge with 400 `validation_error` naming the
 * field, wherever the value would go (PostgreSQL text and jsonb refuse NUL: a 500 before); tab and
 * newline stay allowed in body text such as descriptions. The console's queries are in
 * console-http.test.ts.
 */

const env = await useAdminTestEnv();
await createTenant(env.prisma, 'ctl_a');
const app = await useAdminApp(env, 'ctl_a', 'ctl_b');

const send = (method: 'POST' | 'PATCH' | 'PUT' | 'GET', url: string, payload?: unknown) =>
  app.inject({
    method,
    url,
    headers: { ...bearer(ADMIN_TOKEN), ...(payload ? { 'content-type': 'application/json' } : {}) },
    ...(payload ? { payload: JSON.stringify(payload) } : {}),
  });

describe('control characters at the admin API edge', () => {
  it.each([
    ['POST', '/api/admin/tenants', { id: 'ctl_new', name: 'a\u0000b' }, 'name'],
    ['POST', '/api/admin/tenants', { id: 'ctl_new', name: 'a\u001b[31mb' }, 'name'],
    ['PATCH', '/api/admin/tenants/ctl_a', { name: 'a\u0000b' }, 'name'],
    [
      'POST',
      '/api/admin/features',
      { key: 'ctl.one', type: 'boolean', description: 'x\u0000' },
      'description',
    ],
    ['PATCH', '/api/admin/features/sso', { description: 'x\u0007y' }, 'description'],
    ['PUT', '/api/admin/tenants/ctl_a/overrides/sso', { value: true, ['k\u0000']: 1 }, '"k\\u0000"'],
    ['GET', '/api/admin/tenants?cursor=%00', undefined, 'cursor'],
    ['GET', '/api/admin/tenants/%1B', undefined, 'tenantId'],
  ] as const)('%s %s %j → 400 naming %s', async (method, url, payload, path) => {
    const res = await send(method, url, payload);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'validation_error', issues: [{ path }] });
    expect(res.body).not.toContain('\u0000');
    expect(res.body).not.toContain('\u001b');
  });

  it('nothing was written by the refused requests', async () => {
    expect(await env.prisma.tenant.findUnique({ where: { id: 'ctl_new' } })).toBeNull();
    expect((await env.prisma.tenant.findUniqueOrThrow({ where: { id: 'ctl_a' } })).name).not.toContain(
      '\u0000',
    );
  });

  it('tab and newline stay allowed in a description', async () => {
    const res = await send('POST', '/api/admin/features', {
      key: 'ctl.multiline',
      type: 'boolean',
      description: 'Line one\n\tline two',
    });
    expect(res.statusCode, res.body).toBe(201);
  });
});

describe('manage never prints a raw ESC', () => {
  it('an unknown tenant id with an escape sequence is shown escaped', async () => {
    const stdout = captureStream();
    const stderr = captureStream();
    const context = {
      prisma: env.prisma,
      featureReader: createFeatureReader(env.prisma, createMemoryCache()),
    };
    const code = await runManageCli(['tenants', 'show', 'x\u001b[2J\u001b]0;pwned\u0007'], {
      context,
      env: {},
      stdout,
      stderr,
    });
    expect(code).not.toBe(0);
    const printed = stderr.text + stdout.text;
    for (const control of ['\u001b', '\u0007', '\u0000']) expect(printed).not.toContain(control);
    expect(stderr.text).toContain('\\u001b[2J');
  });
});
