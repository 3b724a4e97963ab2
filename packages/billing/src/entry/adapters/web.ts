import type { CheckedKey } from '../../io/feature-keys.js';
import { answerOfrepBulk, answerOfrepFlag, ofrepEndpoint, type OfrepRequest } from '../openfeature/ofrep.js';
import {
  adapterParts,
  answerError,
  answerFeatureGuard,
  answerFeatureRead,
  answerUsageRead,
  answerUsageReserve,
  answerUsageSettle,
  answerUsageTrack,
  answerWebhook,
  errorAnswer,
  isJsonContentType,
  type HostAdapterOptions,
  type HttpAnswer,
} from './core.js';

/**
 * Web-standard handlers, `(request: Request) => Promise<Response>`: a Next.js App Router route
 * handler, a Hono / Bun / Deno handler as is. Nothing here imports a framework.
 */

export type WebAdapterOptions = HostAdapterOptions<Request>;

export type WebHandler<Args extends unknown[] = []> = (request: Request, ...args: Args) => Promise<Response>;

export interface WebAdapter {
  /** `POST` Stripe webhook endpoint. */
  webhook(request: Request): Promise<Response>;
  /** `GET` the resolved tenant's effective features. */
  features(request: Request): Promise<Response>;
  /** `POST { key, amount?, idempotencyKey? }`: track usage of a metered key for the resolved tenant. */
  usageTrack(request: Request): Promise<Response>;
  /** `GET` the resolved tenant's usage of every metered key. */
  usage(request: Request): Promise<Response>;
  /** `POST { key, amount, ttlMs, idempotencyKey? }`: hold an amount for the resolved tenant. */
  usageReserve(request: Request): Promise<Response>;
  /** `POST { amount }`: charge what was used of the hold `reservationId` (the route's `:id`). */
  usageFinalize(request: Request, reservationId: string): Promise<Response>;
  /** `POST`: return the whole hold `reservationId` (the route's `:id`). */
  usageRelease(request: Request, reservationId: string): Promise<Response>;
  /** Wraps a handler so it only runs when the request's tenant has `key` on; 403 otherwise. */
  requireFeature<K extends string>(
    key: CheckedKey<K>,
  ): <Args extends unknown[]>(
    handler: (request: Request, ...args: Args) => Response | Promise<Response>,
  ) => WebHandler<Args>;
  /** The refusal for a request whose tenant lacks `key`, or null: for middleware (Hono's `use`). */
  featureDenied<K extends string>(request: Request, key: CheckedKey<K>): Promise<Response | null>;
  /**
   * `POST` OFREP, both endpoints in one handler: mount it at `/ofrep/v1/evaluate/flags` and
   * `/ofrep/v1/evaluate/flags/:key` (Next.js: `app/ofrep/v1/evaluate/flags/[[...key]]/route.ts`).
   */
  ofrep(request: Request): Promise<Response>;
}

export function createWebAdapter(options: WebAdapterOptions): WebAdapter {
  const {
    metrics,
    logger,
    bodyLimit,
    webhookHandler,
    source,
    usage,
    tenantOf: resolveTenant,
    ofrep: ofrepOptions,
  } = adapterParts(options, 'web');

  async function answered(request: Request, route: string, answer: () => Promise<HttpAnswer>) {
    const started = performance.now();
    const result = await answer().catch((error: unknown) => answerError(error, logger));
    metrics.httpRequest(request.method, route, result.status, performance.now() - started);
    return toResponse(result);
  }

  async function guard(request: Request, key: string): Promise<Response | null> {
    try {
      const answer = await answerFeatureGuard(source(), await resolveTenant(request), key);
      return answer && toResponse(answer);
    } catch (error) {
      return toResponse(answerError(error, logger));
    }
  }

  return {
    async webhook(request) {
      const started = performance.now();
      const answer = await webhookAnswer(request).catch((error: unknown) => answerError(error, logger));
      metrics.httpRequest(request.method, 'stripe_webhook', answer.status, performance.now() - started);
      return toResponse(answer);
    },

    async features(request) {
      const started = performance.now();
      let answer: HttpAnswer;
      try {
        answer = await answerFeatureRead(source(), await resolveTenant(request));
      } catch (error) {
        answer = answerError(error, logger);
      }
      metrics.httpRequest(request.method, 'tenant_features', answer.status, performance.now() - started);
      return toResponse(answer);
    },

    usageTrack: (request) =>
      answered(request, 'usage_track', async () =>
        answerUsageTrack(usage(), await resolveTenant(request), await request.text()),
      ),

    usage: (request) =>
      answered(request, 'usage', async () => answerUsageRead(usage(), await resolveTenant(request))),

    usageReserve: (request) =>
      answered(request, 'usage_reserve', async () =>
        answerUsageReserve(usage(), await resolveTenant(request), await request.text()),
      ),

    usageFinalize: (request, id) =>
      answered(request, 'usage_finalize', async () =>
        answerUsageSettle(usage(), await resolveTenant(request), {
          op: 'finalize',
          id,
          body: await request.text(),
        }),
      ),

    usageRelease: (request, id) =>
      answered(request, 'usage_release', async () =>
        answerUsageSettle(usage(), await resolveTenant(request), { op: 'release', id }),
      ),

    requireFeature(key) {
      return (handler) =>
        async (request, ...args) =>
          (await guard(request, key)) ?? (await handler(request, ...args));
    },

    featureDenied: (request, key) => guard(request, key),

    async ofrep(request) {
      const started = performance.now();
      const answer = await ofrepAnswer(request).catch((error: unknown) => answerError(error, logger));
      metrics.httpRequest(request.method, 'ofrep', answer.status, performance.now() - started);
      return toResponse(answer);
    },
  };

  async function ofrepAnswer(request: Request): Promise<HttpAnswer> {
    const endpoint = ofrepEndpoint(new URL(request.url).pathname);
    if (!endpoint) return errorAnswer(404, 'not_found', 'Not an OFREP endpoint');
    if (request.method !== 'POST') {
      return errorAnswer(405, 'method_not_allowed', 'OFREP evaluations are POSTed', {}, { allow: 'POST' });
    }
    const ofrep: OfrepRequest = {
      header: (name) => request.headers.get(name) ?? undefined,
      body: await request.text(),
      raw: request,
      logError: (error) => logger.error({ err: error }, 'OFREP evaluation failed'),
    };
    return endpoint.bulk
      ? answerOfrepBulk(ofrepOptions(), ofrep)
      : answerOfrepFlag(ofrepOptions(), endpoint.key, ofrep);
  }

  async function webhookAnswer(request: Request): Promise<HttpAnswer> {
    const handler = webhookHandler();
    if (request.method !== 'POST') {
      return errorAnswer(405, 'method_not_allowed', 'Stripe webhooks are POSTed', {}, { allow: 'POST' });
    }
    if (!isJsonContentType(request.headers.get('content-type'))) {
      metrics.webhookRejected('unsupported_media_type');
      return errorAnswer(415, 'unsupported_media_type', 'Stripe webhooks are sent as application/json');
    }
    if (request.bodyUsed) {
      metrics.webhookRejected('body_already_read');
      return errorAnswer(
        400,
        'body_already_read',
        'The request body was already read (request.json() / request.text()) before the Stripe webhook ' +
          'handler ran; pass the untouched Request, or request.clone() taken before reading it',
      );
    }
    const declared = Number(request.headers.get('content-length') ?? 0);
    if (declared > bodyLimit) return tooLarge(bodyLimit);
    // A Request body is always the raw bytes: no framework can have parsed it into an object.
    const body = Buffer.from(await request.arrayBuffer());
    if (body.length > bodyLimit) return tooLarge(bodyLimit);
    return answerWebhook(handler, body, request.headers.get('stripe-signature'), {
      metrics,
      logger,
    });
  }

  function tooLarge(limit: number): HttpAnswer {
    metrics.webhookRejected('payload_too_large');
    return errorAnswer(413, 'payload_too_large', `Request body is larger than ${limit} bytes`);
  }
}

export function toResponse(answer: HttpAnswer): Response {
  // A 304 (OFREP's unchanged flags) has no body at all.
  if (answer.body === null) return new Response(null, { status: answer.status, headers: answer.headers });
  if (answer.json !== undefined) {
    const headers = { ...answer.headers, 'content-type': 'application/json' };
    return new Response(answer.json, { status: answer.status, headers });
  }
  return Response.json(answer.body, { status: answer.status, headers: answer.headers });
}
