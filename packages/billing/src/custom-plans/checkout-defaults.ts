import { ValidationError } from '../errors.js';
import type { CheckoutUrls } from './types.js';

/**
 * CHECKOUT_SUCCESS_URL / CHECKOUT_CANCEL_URL, for a custom plan service built without the
 * composition root (the spec's `createCustomPlanService(stripe, prisma)`), which has no other way
 * to learn them. Checked as createBillingContext checks them: http(s) URLs, set together.
 */
export function checkoutUrlsFromEnv(env: NodeJS.ProcessEnv): CheckoutUrls | undefined {
  const successUrl = env.CHECKOUT_SUCCESS_URL?.trim() || undefined;
  const cancelUrl = env.CHECKOUT_CANCEL_URL?.trim() || undefined;
  if (!successUrl && !cancelUrl) return undefined;
  const issues = (
    [
      ['CHECKOUT_SUCCESS_URL', successUrl],
      ['CHECKOUT_CANCEL_URL', cancelUrl],
    ] as const
  ).flatMap(([name, value]) =>
    !value
      ? [{ path: name, message: 'CHECKOUT_SUCCESS_URL and CHECKOUT_CANCEL_URL must be set together' }]
      : isHttpUrl(value)
        ? []
        : [{ path: name, message: `${name} must be an http(s) URL` }],
  );
  if (issues.length > 0)
    throw new ValidationError(`Invalid configuration: ${issues.map((i) => i.message).join('; ')}`, issues);
  return { successUrl: successUrl!, cancelUrl: cancelUrl! };
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
