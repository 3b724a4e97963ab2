import { describe, expect, it } from 'vitest';
import { parseBillingConfig, parseStorageConfig } from '../src/io/config.js';
import { parseBillingEnv } from '../src/entry/context.js';
import { ValidationError } from '../src/core/errors.js';

/** Configuration the server and CLIs start from: bad values are refused at startup, not at request time. */

const base = { STRIPE_SECRET_KEY: 'sk_test_x' };

describe('parseBillingEnv: checkout URLs', () => {
  it.each([
    [
      'success URL not a URL',
      { CHECKOUT_SUCCESS_URL: 'app.example/ok', CHECKOUT_CANCEL_URL: 'https://app.example/no' },
      /CHECKOUT_SUCCESS_URL/,
    ],
    [
      'cancel URL not http(s)',
      { CHECKOUT_SUCCESS_URL: 'https://app.example/ok', CHECKOUT_CANCEL_URL: 'javascript:alert(1)' },
      /CHECKOUT_CANCEL_URL/,
    ],
    ['only the success URL', { CHECKOUT_SUCCESS_URL: 'https://app.example/ok' }, /CHECKOUT_CANCEL_URL/],
    ['only the cancel URL', { CHECKOUT_CANCEL_URL: 'https://app.example/no' }, /CHECKOUT_SUCCESS_URL/],
  ])('%s → ValidationError naming it', (_name, extra, pattern) => {
    expect(() => parseBillingEnv({ ...base, ...extra })).toThrow(ValidationError);
    expect(() => parseBillingEnv({ ...base, ...extra })).toThrow(pattern);
  });

  it('accepts both, or neither', () => {
    expect(
      parseBillingEnv({
        ...base,
        CHECKOUT_SUCCESS_URL: 'https://app.example/ok',
        CHECKOUT_CANCEL_URL: 'http://localhost:3000/no',
      }),
    ).toMatchObject({
      CHECKOUT_SUCCESS_URL: 'https://app.example/ok',
      CHECKOUT_CANCEL_URL: 'http://localhost:3000/no',
    });
    expect(parseBillingEnv({ ...base, CHECKOUT_SUCCESS_URL: ' ', CHECKOUT_CANCEL_URL: '' })).toMatchObject({
      CHECKOUT_SUCCESS_URL: undefined,
      CHECKOUT_CANCEL_URL: undefined,
    });
  });
});

describe('parseBillingEnv: payment grace', () => {
  it.each(['-5', '1.5', 'hourly', '123456', '10081', '99999'])(
    'PAYMENT_GRACE_CHECK_MINUTES=%s → ValidationError naming it',
    (value) => {
      expect(() => parseBillingEnv({ ...base, PAYMENT_GRACE_CHECK_MINUTES: value })).toThrow(
        /PAYMENT_GRACE_CHECK_MINUTES/,
      );
    },
  );

  it('reads minutes, 0 (off) included, and leaves it unset by default', () => {
    expect(parseBillingEnv({ ...base, PAYMENT_GRACE_CHECK_MINUTES: '15' }).PAYMENT_GRACE_CHECK_MINUTES).toBe(
      15,
    );
    expect(parseBillingEnv({ ...base, PAYMENT_GRACE_CHECK_MINUTES: '0' }).PAYMENT_GRACE_CHECK_MINUTES).toBe(
      0,
    );
    expect(parseBillingEnv(base).PAYMENT_GRACE_CHECK_MINUTES).toBeUndefined();
  });
});

describe('parseBillingConfig: every error names the variable that is wrong', () => {
  const server = { requireWebhookSecret: true, requirePersistentDatabase: true };
  const ok = { ...base, STRIPE_WEBHOOK_SECRET: 'whsec_x', DATABASE_URL: 'postgresql://u:pw@db:5432/app' };

  function issuesOf(env: NodeJS.ProcessEnv, requirements = server) {
    try {
      parseBillingConfig(env, requirements);
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      return (error as ValidationError).issues;
    }
    throw new Error('expected a configuration error');
  }

  it.each([
    ['PAYMENT_GRACE_PERIOD_DAYS', 'abc'],
    ['PAYMENT_GRACE_CHECK_MINUTES', '20000'],
    ['STRIPE_API_BASE', 'not a url'],
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['HOST', 'bad host'],
    ['LOG_LEVEL', 'loud'],
    ['ADMIN_API_TOKENS', 'ops:root=0123456789abcdef0123'],
    ['DATABASE_URL', 'mysql://u:pw@db/app'],
    ['DATABASE_SCHEMA', 'Bad-Name'],
    ['REDIS_URL', 'http://cache:6379'],
    ['ALLOW_EMBEDDED_DATABASE', 'yes please'],
    ['PLAN_SOURCE', 'stripe'],
    ['DATABASE_POOL_MAX', '0'],
    ['DATABASE_READ_POOL_MAX', 'many'],
    ['WEBHOOK_LEASE_MS', '500'],
  ])('%s=%s → one issue, on that variable only', (name, value) => {
    const issues = issuesOf({ ...ok, [name]: value });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe(name);
    expect(issues[0]!.message.startsWith(name)).toBe(true);
    // The old false "STRIPE_WEBHOOK_SECRET is required" for any invalid variable.
    expect(issues[0]!.message).not.toContain('STRIPE_WEBHOOK_SECRET');
  });

  it('lists every wrong variable at once, and echoes values only when they are not secrets', () => {
    const issues = issuesOf({
      ...ok,
      PORT: 'abc',
      LOG_LEVEL: 'loud',
      DATABASE_URL: 'mysql://user:hunter2@db/app',
      STRIPE_WEBHOOK_SECRET: '',
    });
    expect(issues.map((i) => i.path).sort()).toEqual([
      'DATABASE_URL',
      'LOG_LEVEL',
      'PORT',
      'STRIPE_WEBHOOK_SECRET',
    ]);
    expect(issues.find((i) => i.path === 'PORT')!.message).toContain('(got "abc")');
    expect(JSON.stringify(issues)).not.toContain('hunter2');
  });

  it('PLAN_SOURCE: metadata by default, entitlements or both when set', () => {
    expect(parseBillingConfig(ok, server).PLAN_SOURCE).toBe('metadata');
    expect(parseBillingConfig({ ...ok, PLAN_SOURCE: ' both ' }, server).PLAN_SOURCE).toBe('both');
    expect(issuesOf({ ...ok, PLAN_SOURCE: 'Entitlements' })[0]!.message).toBe(
      'PLAN_SOURCE must be one of metadata, entitlements, both (got "Entitlements")',
    );
  });

  it('applies defaults for the server settings', () => {
    expect(parseBillingConfig(ok, server)).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ADMIN_API_TOKENS: [],
      DATABASE_SCHEMA: 'public',
      ALLOW_EMBEDDED_DATABASE: false,
    });
  });

  it('the server refuses the embedded database unless ALLOW_EMBEDDED_DATABASE says it is meant', () => {
    const env = { ...ok, DATABASE_URL: undefined };
    const [issue] = issuesOf(env);
    expect(issue).toMatchObject({
      path: 'DATABASE_URL',
      message: expect.stringMatching(/ALLOW_EMBEDDED_DATABASE=true/),
    });
    expect(
      parseBillingConfig({ ...env, ALLOW_EMBEDDED_DATABASE: 'true' }, server).DATABASE_URL,
    ).toBeUndefined();
    // The CLIs and the library keep the embedded default.
    expect(parseBillingConfig(env).DATABASE_URL).toBeUndefined();
  });

  it('DATABASE_SCHEMA and ?schema= in DATABASE_URL: either selects the schema; they must agree', () => {
    expect(parseBillingConfig({ ...ok, DATABASE_SCHEMA: 'billing' }, server).DATABASE_SCHEMA).toBe('billing');
    expect(
      parseBillingConfig({ ...ok, DATABASE_URL: 'postgresql://u:pw@db:5432/app?schema=tenants' }, server)
        .DATABASE_SCHEMA,
    ).toBe('tenants');
    expect(
      parseBillingConfig(
        { ...ok, DATABASE_URL: 'postgresql://u:pw@db:5432/app?schema=tenants', DATABASE_SCHEMA: 'tenants' },
        server,
      ).DATABASE_SCHEMA,
    ).toBe('tenants');
    expect(
      issuesOf({ ...ok, DATABASE_URL: 'postgresql://u:pw@db/app?schema=a', DATABASE_SCHEMA: 'b' }),
    ).toEqual([
      {
        path: 'DATABASE_SCHEMA',
        message: expect.stringMatching(/DATABASE_SCHEMA \(b\) and the schema parameter/),
      },
    ]);
    expect(issuesOf({ ...ok, DATABASE_URL: 'postgresql://u:pw@db/app?schema=Bad-Name' })).toEqual([
      {
        path: 'DATABASE_URL',
        message: expect.stringMatching(/schema parameter of DATABASE_URL must be a lowercase/),
      },
    ]);
  });
});

describe('parseStorageConfig: what manage needs, and no Stripe key', () => {
  it('reads the database and cache variables only', () => {
    const config = parseStorageConfig({
      DATABASE_URL: 'postgresql://u@db:5432/app',
      DATABASE_SCHEMA: 'billing',
      REDIS_URL: 'redis://cache:6379',
      STRIPE_API_BASE: 'not a url',
    });
    const timeouts = {
      DATABASE_CONNECT_TIMEOUT_MS: 5000,
      DATABASE_STATEMENT_TIMEOUT_MS: 15000,
      DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: 60000,
    };
    expect(config).toEqual({
      DATABASE_URL: 'postgresql://u@db:5432/app',
      DATABASE_SCHEMA: 'billing',
      REDIS_URL: 'redis://cache:6379',
      ...timeouts,
    });
    expect(parseStorageConfig({})).toEqual({ DATABASE_SCHEMA: 'public', ...timeouts });
  });

  it('still names a wrong database variable', () => {
    expect(() =>
      parseStorageConfig({ DATABASE_URL: 'postgresql://u@db/app', DATABASE_SCHEMA: 'Bad-Name' }),
    ).toThrow(/DATABASE_SCHEMA/);
  });
});
