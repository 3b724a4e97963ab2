import { describe, expect, it } from 'vitest';
import {
  BillingError,
  CheckoutNotConfiguredError,
  ConcurrencyError,
  CustomerAlreadyLinkedError,
  CustomPlanError,
  DeprecatedFeatureError,
  EntitlementFeatureError,
  FeatureAlreadyExistsError,
  FeatureNotFoundError,
  FeatureNotMeteredError,
  IdempotencyConflictError,
  MetadataError,
  PlanNotFoundError,
  ReservationExpiredError,
  ReservationNotFoundError,
  StripeAuthenticationError,
  StripeConnectionError,
  StripeRateLimitError,
  TenantAlreadyExistsError,
  TenantNotFoundError,
  UnknownFeatureError,
  UsageAlertNotFoundError,
  ValidationError,
  WebhookEventNotFoundError,
  WebhookPayloadError,
  WebhookSignatureError,
} from '../../src/core/errors.js';
import { errorResponse, HttpError } from '../../src/io/http/error-response.js';

// Every library error answers the status of its kind, in the one error shape.
describe('errorResponse: status on the error kind', () => {
  const stripeFailure = new StripeConnectionError('stripe_connection_failed', 'no route', undefined, 'req_1');
  const cases: [BillingError, number][] = [
    [new ValidationError('bad', [{ path: 'name', message: 'required' }]), 400],
    [new UnknownFeatureError('nope', 'overrides'), 400],
    [new DeprecatedFeatureError('old', 'overrides'), 400],
    [new WebhookSignatureError('bad signature'), 400],
    [new WebhookPayloadError('bad payload'), 400],
    [new CheckoutNotConfiguredError(), 400],
    [new FeatureNotMeteredError('seats'), 400],
    [new TenantNotFoundError('t1'), 404],
    [new PlanNotFoundError('prod_x'), 404],
    [new FeatureNotFoundError('k'), 404],
    [new WebhookEventNotFoundError('evt_1'), 404],
    [new ReservationNotFoundError('r1'), 404],
    [new UsageAlertNotFoundError(7), 404],
    [new TenantAlreadyExistsError('t1'), 409],
    [new CustomerAlreadyLinkedError('cus_1', 't2'), 409],
    [new FeatureAlreadyExistsError('k', 'K'), 409],
    [new IdempotencyConflictError('key'), 409],
    [new ReservationExpiredError('r1'), 409],
    [new ConcurrencyError('t1', 5), 409],
    [new CustomPlanError('custom_plan_in_progress', 'another attempt is running', 'lock'), 409],
    [new MetadataError('product', 'prod_1', 'features', 'is not JSON'), 502],
    [new EntitlementFeatureError('prod_1', 'feat_1', 'k', 'bad'), 502],
    [new StripeAuthenticationError('stripe_authentication_failed', 'bad key', 401, 'req_2'), 502],
    [stripeFailure, 502],
    [new CustomPlanError('custom_plan_failed', 'stripe said no', 'price', { cause: stripeFailure }), 502],
    [new StripeRateLimitError('stripe_rate_limited', 'slow down', 429, 'req_3'), 503],
    [new CustomPlanError('custom_plan_failed', 'pg: relation missing', 'write'), 500],
  ];
  it.each(cases)('%s → %i', (error, status) => {
    const response = errorResponse(error);
    expect(response.status).toBe(status);
    expect(response.body.error.code).toBe(error.code);
  });

  it('carries issues, a retry-after on rate limits, and keeps internals of our own failures out', () => {
    expect(errorResponse(new ValidationError('bad', [{ path: 'name', message: 'required' }])).body).toEqual({
      error: { code: 'validation_error', message: 'bad', issues: [{ path: 'name', message: 'required' }] },
    });
    expect(errorResponse(new UnknownFeatureError('nope', 'overrides')).body.error.issues).toEqual([
      { path: 'overrides', message: expect.stringContaining('"nope"') },
    ]);
    expect(errorResponse(new TenantNotFoundError('t1')).body.error).not.toHaveProperty('issues');
    expect(
      errorResponse(new StripeRateLimitError('stripe_rate_limited', 'slow down', 429, undefined)).headers,
    ).toEqual({ 'retry-after': '5' });
    const internal = errorResponse(
      new CustomPlanError('custom_plan_failed', 'pg: relation missing', 'write'),
    );
    expect(internal.body.error).toMatchObject({ code: 'custom_plan_failed', step: 'write' });
    expect(internal.body.error.message).not.toContain('relation missing');
  });

  it('passes HttpError through, maps framework 4xx, and hides anything else as a 500', () => {
    expect(
      errorResponse(new HttpError(401, 'unauthorized', 'no token', { 'www-authenticate': 'Bearer' })),
    ).toEqual({
      status: 401,
      body: { error: { code: 'unauthorized', message: 'no token' } },
      headers: { 'www-authenticate': 'Bearer' },
    });
    expect(
      errorResponse(
        Object.assign(new Error('bad json'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }),
      ).body.error.code,
    ).toBe('invalid_json');
    expect(errorResponse(Object.assign(new Error('too big'), { statusCode: 413 })).body.error.code).toBe(
      'payload_too_large',
    );
    expect(errorResponse(new Error('secret internals'))).toEqual({
      status: 500,
      body: { error: { code: 'internal_error', message: 'Internal server error' } },
      headers: {},
    });
  });
});
