import type { HttpErrorCode } from '../../core/error-codes.js';
import { isDatabaseUnavailable } from '../../io/database-errors.js';
import { WebhookPayloadError, WebhookSignatureError } from '../../core/errors.js';
import { featureOn } from '../../flows/features/access.js';
import type { TenantFeatureSource } from '../../flows/features/checks.js';
import { noopMetrics, type BillingMetrics } from '../../io/metrics/index.js';
import type { CatalogSource } from '../../io/catalog/registry.js';
import { hostAuthorizer, type OfrepOptions } from '../openfeature/ofrep.js';
import type { AuthConfig } from '../../io/http/auth.js';
import { remainingFromUsage } from '../openfeature/usage.js';
import type { FeatureCatalog } from '../../core/types.js';
import { errorResponse } from '../../io/http/error-response.js';
import type { UsageService } from '../../flows/usage/index.js';
import type { StripeWebhookHandler, WebhookResult } from '../../flows/webhooks/index.js';

/**
 * The framework-neutral half of every adapter: request facts in, status + JSON body out. The
 * web, Express and Fastify adapters only translate their request/response objects, so all of them
 * answer with the same status codes and the same `{ error: { code, message } }` body as our server.
 */

export interface HttpAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  /** `body` already serialised (OFREP's kept bulk answer): sent as is, as `application/json`. */
  json?: string;
}

/** Any pino-style logger (Fastify's `request.log`, pino, a console wrapper). */
export interface AdapterLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Only problems reach stderr, as JSON lines, when the host gives no logger. */
export const consoleLogger: AdapterLogger = {
  info: () => {},
  warn: (fields, message) => console.error(JSON.stringify({ level: 'warn', msg: message, ...fields })),
  error: (fields, message) =>
    console.error(JSON.stringify({ level: 'error', msg: message, ...serializable(fields) })),
};

function serializable(fields: object): object {
  const err = (fields as { err?: unknown }).err;
  return err instanceof Error ? { ...fields, err: { type: err.name, message: err.message } } : fields;
}

/** What a host gives to resolve the tenant of a request: its id, or nothing when there is none. */
export type TenantResolver<Req> = (
  request: Req,
) => string | null | undefined | Promise<string | null | undefined>;

export function errorAnswer(
  status: number,
  code: HttpErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): HttpAnswer {
  return { status, body: { error: { code, message, ...extra } }, headers };
}

/** How to fix a body that the host's framework parsed before our webhook handler saw it. */
export type ParsedBodyHint = string;

export interface WebhookAnswerOptions {
  metrics?: BillingMetrics;
  logger?: AdapterLogger;
  /** Said in the error when the body arrives already parsed into an object. */
  parsedBodyHint?: ParsedBodyHint;
}

/**
 * Checks that the body is the raw payload Stripe signed, runs the handler and maps the outcome:
 * 200 done (duplicates too), 400 never retriable (bad signature or body), 500 retry later (503
 * when the database did not answer in time).
 */
export async function answerWebhook(
  handler: StripeWebhookHandler,
  body: unknown,
  signatureHeader: string | string[] | null | undefined,
  options: WebhookAnswerOptions = {},
): Promise<HttpAnswer & { result?: WebhookResult }> {
  const metrics = options.metrics ?? noopMetrics;
  const logger = options.logger ?? consoleLogger;
  const payload = rawPayload(body);
  if (payload === null) {
    metrics.webhookRejected('body_already_parsed');
    return errorAnswer(
      400,
      'body_already_parsed',
      'The webhook body reached the Stripe handler already parsed into an object, so the exact bytes ' +
        'Stripe signed are gone and the signature cannot be checked. ' +
        (options.parsedBodyHint ?? 'Pass the raw request body (a Buffer or the unparsed text).'),
    );
  }
  const signature = Array.isArray(signatureHeader) ? signatureHeader[0] : (signatureHeader ?? undefined);
  try {
    // With a worker attached the handler answers once the event is stored (`queued`).
    const result = handler.receiveWebhook
      ? await handler.receiveWebhook(payload, signature)
      : await handler.handleWebhook(payload, signature);
    return { status: 200, body: result, headers: {}, result };
  } catch (error) {
    if (error instanceof WebhookSignatureError || error instanceof WebhookPayloadError) {
      metrics.webhookRejected(error.code);
      logger.warn({ code: error.code, reason: error.message }, 'stripe webhook rejected');
      return errorAnswer(400, error.code, error.message);
    }
    logger.error({ err: error }, 'stripe webhook failed; Stripe will retry');
    // The detail stays in our log: Stripe shows response bodies in its dashboard.
    if (isDatabaseUnavailable(error)) {
      return errorAnswer(
        503,
        'database_unavailable',
        'The database did not answer in time; it will be retried',
      );
    }
    return errorAnswer(500, 'internal_error', 'Webhook processing failed; it will be retried');
  }
}

/** The signed bytes, or null when a JSON parser already turned them into an object. */
function rawPayload(body: unknown): Buffer | string | null {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body) || typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  return null;
}

/** A tenant's effective features, as `GET …/features` answers them. */
export async function answerFeatureRead(
  source: TenantFeatureSource,
  tenantId: string | null | undefined,
): Promise<HttpAnswer> {
  if (!tenantId) return tenantNotResolved();
  const features = await source.getTenantFeatures(tenantId);
  if (!features) return tenantNotFound(tenantId);
  return { status: 200, body: features, headers: {} };
}

/** What the usage routes call: `createUsageService(prisma)` or the context's `usage`. */
export type UsageSource = Pick<UsageService, 'track' | 'getUsage' | 'reserve' | 'finalize' | 'release'>;

/** A usage route's JSON body (parsed, or raw bytes / text; an empty body is `{}`), or the 400 refusing it. */
function usageBody(body: unknown): { fields: Record<string, unknown> } | { refused: HttpAnswer } {
  let value: unknown = body;
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    const text = body.toString();
    try {
      value = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      return { refused: errorAnswer(400, 'invalid_json', 'The request body is not valid JSON') };
    }
  }
  return { fields: (value ?? {}) as Record<string, unknown> };
}
const optionalString = (v: unknown) => v === undefined || typeof v === 'string';
const idempotency = (b: Record<string, unknown>) =>
  typeof b.idempotencyKey === 'string' ? { idempotencyKey: b.idempotencyKey } : {};

/**
 * `POST …/usage/track` for the resolved tenant: `{ key, amount?, idempotencyKey? }` (JSON, already
 * parsed or as raw bytes) → 200 with the track's answer (`allowed: false` is an answer, not an error).
 */
export async function answerUsageTrack(
  usage: UsageSource,
  tenantId: string | null | undefined,
  body: unknown,
): Promise<HttpAnswer> {
  if (!tenantId) return tenantNotResolved();
  const parsed = usageBody(body);
  if ('refused' in parsed) return parsed.refused;
  const b = parsed.fields;
  if (typeof b.key !== 'string' || (b.amount !== undefined && typeof b.amount !== 'number'))
    return errorAnswer(
      400,
      'validation_error',
      'Expected { key: string, amount?: number, idempotencyKey?: string }',
    );
  const answer = await usage.track(tenantId, b.key, b.amount ?? 1, idempotency(b));
  return { status: 200, body: answer, headers: {} };
}

/**
 * `POST …/usage/reserve` for the resolved tenant: `{ key, amount, ttlMs, idempotencyKey? }` → 200 with
 * the reservation (`id: null` and `allowed: false` when refused: an answer, not an error).
 */
export async function answerUsageReserve(
  usage: UsageSource,
  tenantId: string | null | undefined,
  body: unknown,
): Promise<HttpAnswer> {
  if (!tenantId) return tenantNotResolved();
  const parsed = usageBody(body);
  if ('refused' in parsed) return parsed.refused;
  const b = parsed.fields;
  if (
    typeof b.key !== 'string' ||
    typeof b.amount !== 'number' ||
    typeof b.ttlMs !== 'number' ||
    !optionalString(b.idempotencyKey)
  )
    return errorAnswer(
      400,
      'validation_error',
      'Expected { key: string, amount: number, ttlMs: number, idempotencyKey?: string }',
    );
  const answer = await usage.reserve(tenantId, b.key, b.amount, { ttlMs: b.ttlMs, ...idempotency(b) });
  return { status: 200, body: answer, headers: {} };
}

/**
 * `POST …/usage/reservations/:id/finalize` (`{ amount }`: what was used) and `…/release` (no body) for
 * the resolved tenant: another tenant's reservation is `reservation_not_found`, as a settled one.
 */
export async function answerUsageSettle(
  usage: UsageSource,
  tenantId: string | null | undefined,
  settle:
    { op: 'finalize'; id: string | undefined; body: unknown } | { op: 'release'; id: string | undefined },
): Promise<HttpAnswer> {
  if (!tenantId) return tenantNotResolved();
  if (!settle.id) return errorAnswer(400, 'validation_error', 'Expected the reservation id in the path');
  if (settle.op === 'release')
    return { status: 200, body: await usage.release(settle.id, { tenantId }), headers: {} };
  const parsed = usageBody(settle.body);
  if ('refused' in parsed) return parsed.refused;
  const b = parsed.fields;
  if (typeof b.amount !== 'number')
    return errorAnswer(400, 'validation_error', 'Expected { amount: number }');
  return { status: 200, body: await usage.finalize(settle.id, b.amount, { tenantId }), headers: {} };
}

/** `GET …/usage`: every metered key of the resolved tenant (used, limit, remaining, period, overLimit). */
export async function answerUsageRead(
  usage: UsageSource,
  tenantId: string | null | undefined,
): Promise<HttpAnswer> {
  if (!tenantId) return tenantNotResolved();
  return { status: 200, body: await usage.getUsage(tenantId), headers: {} };
}

/** null when the tenant has the feature on; otherwise the answer that refuses the request. */
export async function answerFeatureGuard(
  source: TenantFeatureSource,
  tenantId: string | null | undefined,
  key: string,
): Promise<HttpAnswer | null> {
  if (!tenantId) return tenantNotResolved();
  const features = await source.getTenantFeatures(tenantId);
  if (!features) return tenantNotFound(tenantId);
  if (featureOn(features.features, key)) return null;
  return errorAnswer(
    403,
    'feature_not_enabled',
    `Feature "${key}" is not enabled for tenant "${tenantId}"${features.accessActive ? '' : ' (its access is suspended)'}`,
    { feature: key },
  );
}

function tenantNotResolved(): HttpAnswer {
  return errorAnswer(
    401,
    'tenant_not_resolved',
    'No tenant for this request: the resolveTenant function returned no tenant id (not signed in?)',
  );
}

function tenantNotFound(tenantId: string): HttpAnswer {
  return errorAnswer(
    404,
    'tenant_not_found',
    `Tenant "${tenantId}" is unknown or has no feature configuration yet (check the id resolveTenant returned)`,
  );
}

/** Anything thrown by a resolver or a read: typed errors keep their status, the rest is a logged 500. */
export function answerError(error: unknown, logger: AdapterLogger = consoleLogger): HttpAnswer {
  const { status, body, headers } = errorResponse(error);
  if (status >= 500) logger.error({ err: error }, 'billing adapter request failed');
  return { status, body, headers };
}

/** What the web-standard and Express adapters are built from (`Req`: the framework's request). */
export interface HostAdapterOptions<Req> {
  /** Needed by `webhook`. */
  webhookHandler?: StripeWebhookHandler;
  /** Needed by `features` and the guards: usually `featureSync.reader`, the cached reader behind isFeatureEnabled. */
  features?: TenantFeatureSource;
  /** The tenant a request acts for (from the host's session, a header, a subdomain...). */
  resolveTenant?: TenantResolver<Req>;
  metrics?: BillingMetrics;
  logger?: AdapterLogger;
  /** Largest webhook body accepted, in bytes (default 1 MiB, as our server). */
  bodyLimit?: number;
  /** Needed by the usage handlers: track, read, reserve, finalize, release (docs/usage.md). */
  usage?: UsageSource;
  /** The OFREP endpoints' settings (they also need `features`). */
  ofrep?: HostOfrepSettings;
}

/**
 * OFREP in a host app. The caller is the request's tenant (`resolveTenant`, from the host's
 * session), evaluating only itself; with `auth`, a bearer token (or X-API-Key) is accepted too:
 * an admin token evaluates any tenant, a tenant token its own.
 */
export interface HostOfrepSettings {
  /** Known keys: `databaseCatalog(prisma)` or a fixed catalog (default: only the tenant's own keys). */
  catalog?: FeatureCatalog | CatalogSource;
  auth?: AuthConfig;
  /** Metered keys evaluate to the amount left (one usage read per request; never a 304). */
  usage?: Pick<UsageService, 'getUsage'>;
}

/** The OFREP options of a host adapter, from its options. */
export function hostOfrepOptions<Req>(
  options: HostAdapterOptions<Req>,
  features: TenantFeatureSource,
): OfrepOptions {
  return {
    features,
    ...(options.ofrep?.catalog ? { catalog: options.ofrep.catalog } : {}),
    ...(options.ofrep?.usage ? { remainingFor: remainingFromUsage(options.ofrep.usage) } : {}),
    authorize: hostAuthorizer(options.ofrep?.auth, options.resolveTenant),
  };
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * Where every host adapter starts: the options with their defaults, and each optional part a
 * handler needs, or an error naming the option the `adapter` (as the message calls it) lacks.
 */
export function adapterParts<Req>(options: HostAdapterOptions<Req>, adapter: string) {
  const misconfigured = (option: string) =>
    new Error(`The billing ${adapter} adapter was created without the "${option}" option this handler needs`);
  let ofrepOptions: OfrepOptions | undefined;
  return {
    metrics: options.metrics ?? noopMetrics,
    logger: options.logger ?? consoleLogger,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    webhookHandler(): StripeWebhookHandler {
      if (!options.webhookHandler) throw misconfigured('webhookHandler');
      return options.webhookHandler;
    },
    usage(): UsageSource {
      if (!options.usage) throw misconfigured('usage');
      return options.usage;
    },
    source(): TenantFeatureSource {
      if (!options.features) throw misconfigured('features');
      return options.features;
    },
    ofrep(): OfrepOptions {
      if (!options.features) throw misconfigured('features');
      ofrepOptions ??= hostOfrepOptions(options, options.features);
      return ofrepOptions;
    },
    async tenantOf(request: Req): Promise<string | null | undefined> {
      if (!options.resolveTenant) throw misconfigured('resolveTenant');
      return options.resolveTenant(request);
    },
  };
}

/** A JSON content type (`application/json`, any parameters). */
export function isJsonContentType(contentType: string | null | undefined): boolean {
  return typeof contentType === 'string' && /^application\/json\s*(;|$)/i.test(contentType.trim());
}
