import type Stripe from 'stripe';
import { z } from 'zod';
import { messageOf, WebhookPayloadError, WebhookSignatureError } from '../../core/errors.js';
import { isTenantId, STRIPE_ID_PATTERN as STRIPE_ID, stripeIdSchema } from '../../io/identifiers.js';

/** The part of a Stripe event the handler relies on; everything else is read defensively. */
export interface VerifiedEvent {
  id: string;
  type: string;
  /** Stripe's `created`, the moment the change happened (not when it was delivered). */
  created: Date;
  object: Record<string, unknown>;
}

const utf8 = new TextDecoder('utf8');

/** Year 3000 in Unix seconds: later than any real event, early enough to stay a valid Date. */
const MAX_CREATED = 32_503_680_000;

// Shapes no Stripe event can have are rejected here (400), not left to fail in Postgres or in a
// Stripe URL later (500), which Stripe would retry for days.
const eventShape = z.object({
  id: stripeIdSchema,
  type: z.string().regex(/^[a-z0-9_.]{1,100}$/, 'must be a Stripe event type'),
  created: z.number().int().nonnegative().max(MAX_CREATED),
  // Only "a JSON object": z.record would copy every key of the (large) object on each delivery.
  data: z.object({
    object: z.custom<Record<string, unknown>>(
      (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
      'Invalid input: expected an object',
    ),
  }),
});

/**
 * Signature first, then shape. The signature covers the raw bytes, so it must be checked before
 * anything trusts the body; a body that is signed but unusable is Stripe's (or a test's) bug and
 * gets a 400 too, because retrying the same bytes can never succeed.
 */
export function verifyEvent(
  stripe: Stripe,
  payload: Buffer | string,
  signature: string | undefined,
  secret: string,
  toleranceSeconds: number,
): VerifiedEvent {
  if (payload.length === 0) throw new WebhookPayloadError('Empty webhook body');
  if (!signature) throw new WebhookSignatureError('Missing Stripe-Signature header');
  let raw: unknown;
  try {
    // Decoded once here, as the SDK would (it decodes a Buffer twice: to check, then to parse).
    const text = typeof payload === 'string' ? payload : utf8.decode(payload);
    raw = stripe.webhooks.constructEvent(text, signature, secret, toleranceSeconds);
  } catch (error) {
    if (isSignatureFailure(error)) {
      throw new WebhookSignatureError(`Invalid Stripe signature: ${(error as Error).message}`, {
        cause: error,
      });
    }
    // constructEvent only parses after the signature matched, so anything else is a bad body.
    throw new WebhookPayloadError(`Malformed webhook body: ${messageOf(error)}`, { cause: error });
  }
  // The SDK refuses signatures older than the tolerance but accepts any from the future; a
  // timestamp far ahead of our clock is as unverifiable as an old one (a replay window that
  // would only open later), so the same tolerance applies both ways.
  const signedAt = signatureTimestamp(signature);
  if (toleranceSeconds > 0 && signedAt !== null && signedAt - Date.now() / 1000 > toleranceSeconds) {
    throw new WebhookSignatureError(
      `Invalid Stripe signature: timestamp is more than ${toleranceSeconds} s in the future`,
    );
  }
  const parsed = eventShape.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new WebhookPayloadError(`Webhook body is not a Stripe event: ${issues}`);
  }
  const { id, type, created, data } = parsed.data;
  return { id, type, created: new Date(created * 1000), object: data.object };
}

function signatureTimestamp(header: string): number | null {
  const match = /(?:^|,)\s*t=(\d{1,12})(?:,|$)/.exec(header);
  return match ? Number(match[1]) : null;
}

function isSignatureFailure(error: unknown): boolean {
  // Read structurally: two copies of the SDK (ours and a caller's) must still be recognised.
  return error instanceof Error && (error as { type?: unknown }).type === 'StripeSignatureVerificationError';
}

export const idOf = (value: unknown): string | null => {
  const id = value && typeof value === 'object' ? (value as { id?: unknown }).id : value;
  return typeof id === 'string' && STRIPE_ID.test(id) ? id : null;
};

const metadataTenant = (metadata: unknown): string | null => {
  if (!metadata || typeof metadata !== 'object') return null;
  const value = (metadata as Record<string, unknown>).tenantId;
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  return isTenantId(trimmed) ? trimmed : null;
};

/** Customer id, subscription id and any tenantId hint an event object carries. */
export interface EventRefs {
  customerId: string | null;
  subscriptionId: string | null;
  tenantIdHint: string | null;
}

export function refsOf(event: VerifiedEvent): EventRefs {
  const o = event.object;
  if (o.object === 'subscription') {
    return {
      customerId: idOf(o.customer),
      subscriptionId: idOf(o.id),
      tenantIdHint: metadataTenant(o.metadata),
    };
  }
  if (o.object === 'invoice') {
    // Since API 2025-03 (basil) an invoice reaches its subscription through parent.subscription_details.
    const parent =
      o.parent !== null && typeof o.parent === 'object'
        ? (o.parent as { subscription_details?: { subscription?: unknown; metadata?: unknown } | null })
        : null;
    const details = parent?.subscription_details ?? null;
    const legacy = (o as { subscription?: unknown }).subscription;
    return {
      customerId: idOf(o.customer),
      subscriptionId: idOf(details?.subscription) ?? idOf(legacy),
      tenantIdHint: metadataTenant(details?.metadata) ?? metadataTenant(o.metadata),
    };
  }
  return { customerId: idOf(o.customer), subscriptionId: null, tenantIdHint: metadataTenant(o.metadata) };
}
