import { z } from 'zod';
import { CheckoutNotConfiguredError, DeprecatedFeatureError, ValidationError } from '../../core/errors.js';
import { validateFeatureMap } from '../../io/metadata/index.js';
import type { FeatureCatalog, FeatureMap } from '../../core/types.js';
import {
  MAX_PRICE_CENTS,
  RECURRING_INTERVALS,
  type CheckoutUrls,
  type CreateCustomPlanInput,
} from './types.js';
import { parseOrThrow } from './validation.js';

export const MAX_IDEMPOTENCY_KEY = 200;
/** ISO 4217 codes from Node's ICU data (full ICU ships with Node). */
const ISO_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
const httpUrl = z.httpUrl({ error: 'must be an http(s) URL' }).max(2000);

export const inputSchema = z
  .object({
    tenantId: z.string().trim().min(1).max(255),
    basePlanId: z.string().trim().min(1).max(255),
    priceCents: z
      .number({ error: 'must be a number of cents' })
      .int({ error: 'must be a whole number of cents' })
      .positive({ error: 'must be positive' })
      .max(MAX_PRICE_CENTS, { error: `must be at most ${MAX_PRICE_CENTS}` }),
    currency: z
      .string()
      .regex(/^[A-Za-z]{3}$/, { error: 'must be a 3-letter ISO 4217 currency code' })
      // A well-formed but unknown code ("xyz") would otherwise pass here and fail at Stripe's price
      // step, after the product had been created (and then archived).
      .refine((c) => ISO_CURRENCIES.has(c.toUpperCase()), { error: 'is not an ISO 4217 currency code' })
      .transform((c) => c.toLowerCase()),
    recurringInterval: z.enum(RECURRING_INTERVALS, {
      error: `must be one of ${RECURRING_INTERVALS.join(', ')}`,
    }),
    // Values are checked against the catalog by validateFeatureMap, which knows each key's type.
    overrides: z.unknown().optional(),
    planName: z
      .string()
      .trim()
      .min(1, { error: 'must not be empty' })
      .max(250, { error: 'must be at most 250 characters' }),
    // Left undefined when not given: the default hands out whichever link fits the customer.
    createCheckoutSession: z.boolean().optional(),
    switchSubscription: z.boolean().optional().default(false),
    successUrl: httpUrl.optional(),
    cancelUrl: httpUrl.optional(),
    idempotencyKey: z
      .string()
      .min(1)
      .max(MAX_IDEMPOTENCY_KEY)
      // Printable ASCII without '#', which separates our retry-attempt suffix.
      .regex(/^[\x21-\x22\x24-\x7e]+$/, { error: 'must be printable ASCII without spaces or "#"' })
      .optional(),
    actor: z.string().trim().min(1).max(200).optional(),
  })
  .strict()
  .refine((input) => !(input.createCheckoutSession && input.switchSubscription), {
    error:
      'createCheckoutSession and switchSubscription cannot both be true: one starts a new subscription, the other moves the existing one',
    path: ['switchSubscription'],
  });

export type ParsedInput = z.output<typeof inputSchema> & { overrides: FeatureMap };

/** Shape only: overrides are not catalog-checked (enough for deriving a key). */
export function parseShape(raw: CreateCustomPlanInput): z.output<typeof inputSchema> {
  return parseOrThrow(inputSchema, raw, 'custom plan request');
}

/** Shape and catalog: every problem with the request, before anything is read or written. */
export function parseInput(raw: CreateCustomPlanInput, catalog: FeatureCatalog): ParsedInput {
  const parsed = parseShape(raw);
  const overrides = validateFeatureMap(parsed.overrides ?? {}, catalog, 'overrides');
  // A deprecated key stays readable where it is stored, but a new plan must not grant it anew.
  for (const key of Object.keys(overrides))
    if (catalog.get(key)?.deprecatedAt) throw new DeprecatedFeatureError(key, 'overrides');
  return { ...parsed, overrides };
}

/**
 * Whether the request wants a link for the customer to pay with. The default (neither
 * `createCheckoutSession` nor `switchSubscription` given) does: a Checkout Session for a customer
 * who does not pay yet, a Billing Portal session confirming the move for one who does.
 */
export function linkMode(input: ParsedInput): 'checkout' | 'auto' | null {
  if (input.switchSubscription || input.createCheckoutSession === false) return null;
  return input.createCheckoutSession === true ? 'checkout' : 'auto';
}

/** The link's URLs for the default mode: CheckoutNotConfiguredError when neither the request nor the configuration has them. */
export function defaultLinkUrls(input: ParsedInput, defaults: CheckoutUrls | undefined): CheckoutUrls {
  if (!(input.successUrl ?? defaults?.successUrl) && !(input.cancelUrl ?? defaults?.cancelUrl))
    throw new CheckoutNotConfiguredError();
  return checkoutUrls(input, defaults);
}

export function checkoutUrls(input: ParsedInput, defaults: CheckoutUrls | undefined): CheckoutUrls {
  const successUrl = input.successUrl ?? defaults?.successUrl;
  const cancelUrl = input.cancelUrl ?? defaults?.cancelUrl;
  const issues = [
    ...(successUrl ? [] : [{ path: 'successUrl', message: 'required when createCheckoutSession is true' }]),
    ...(cancelUrl ? [] : [{ path: 'cancelUrl', message: 'required when createCheckoutSession is true' }]),
  ];
  if (!successUrl || !cancelUrl)
    throw new ValidationError('Checkout session needs successUrl and cancelUrl', issues);
  return { successUrl, cancelUrl };
}
