import { describe, expect, it } from 'vitest';
import { parseBillingEnv } from '../src/context.js';
import { ValidationError } from '../src/errors.js';

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
