import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { CheckedKey } from '../../io/feature-keys.js';
import { answerOfrepBulk, answerOfrepFlag, ofrepEndpoint } from '../openfeature/ofrep.js';
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
 * Express middleware. Express is a type-only import: the library never loads it, the host's own
 * copy runs these handlers. The webhook middleware reads the raw body itself, so it needs no
 * `express.raw()`; when the host did mount `express.raw()` (or `express.text()`) for the route, that
 * Buffer / string is used as is. A body that `express.json()` already parsed is refused with a
 * message that says how to mount the route instead.
 */

export type ExpressAdapterOptions = HostAdapterOptions<Request>;

export interface ExpressAdapter {
  /** `app.post('/api/stripe/webhook', billing.webhook)` — mount it before `express.json()`. */
  webhook: RequestHandler;
  /** `app.get('/api/billing/features', billing.features)` — the resolved tenant's features. */
  features: RequestHandler;
  /** Route middleware: `app.get('/reports', billing.requireFeature('advanced_analytics'), handler)`. */
  requireFeature<K extends string>(key: CheckedKey<K>): RequestHandler;
  /**
   * OFREP, both endpoints: `app.use(billing.ofrep)` answers `POST /ofrep/v1/evaluate/flags` and
   * `POST /ofrep/v1/evaluate/flags/:key` and passes every other request on. Works with or without
   * `express.json()` before it.
   */
  ofrep: RequestHandler;
  /**
   * `app.post('/api/billing/usage/track', billing.usageTrack)`: `{ key, amount?, idempotencyKey? }`
   * tracked for the resolved tenant (metered features, docs/usage.md). With or without `express.json()`.
   */
  usageTrack: RequestHandler;
  /** `app.get('/api/billing/usage', billing.usage)`: the resolved tenant's usage of every metered key. */
  usage: RequestHandler;
  /**
   * `app.post('/api/billing/usage/reserve', billing.usageReserve)`: `{ key, amount, ttlMs,
   * idempotencyKey? }` held for the resolved tenant.
   */
  usageReserve: RequestHandler;
  /**
   * `app.post('/api/billing/usage/reservations/:id/finalize', billing.usageFinalize)`: `{ amount }`
   * used of the hold `:id`, the rest returned.
   */
  usageFinalize: RequestHandler;
  /** `app.post('/api/billing/usage/reservations/:id/release', billing.usageRelease)`: hold `:id` returned. */
  usageRelease: RequestHandler;
}

export const EXPRESS_PARSED_BODY_HINT =
  'Register the webhook route before app.use(express.json()), e.g. ' +
  "app.post('/api/stripe/webhook', billing.webhook); app.use(express.json()); " +
  "or keep JSON parsing off that path (express.json({ type: (req) => req.url !== '/api/stripe/webhook' })).";

type ExpressParts = ReturnType<typeof adapterParts<Request>>;

export function createExpressAdapter(options: ExpressAdapterOptions): ExpressAdapter {
  const parts = adapterParts(options, 'Express');
  const { metrics, logger, source, tenantOf } = parts;
  const answered = answeredWith(parts);

  return {
    webhook: answered('stripe_webhook', (req) => webhookAnswer(parts, req)),

    features: answered('tenant_features', async (req) => answerFeatureRead(source(), await tenantOf(req))),

    ofrep(req, res, next) {
      const endpoint = req.method === 'POST' ? ofrepEndpoint(req.path) : null;
      if (!endpoint) return next();
      const started = performance.now();
      ofrepAnswer(parts, req, endpoint)
        .catch((error: unknown) => answerError(error, logger))
        .then((answer) => {
          metrics.httpRequest(req.method, 'ofrep', answer.status, performance.now() - started);
          send(res, answer);
        })
        .catch(next);
    },

    ...usageHandlers(parts, answered),

    requireFeature(key) {
      return (req: Request, res: Response, next: NextFunction) => {
        (async () => answerFeatureGuard(source(), await tenantOf(req), key))()
          .catch((error: unknown) => answerError(error, logger))
          .then((answer) => (answer ? send(res, answer) : next()))
          .catch(next);
      };
    },
  };
}

type Answered = (route: string, answer: (req: Request) => Promise<HttpAnswer>) => RequestHandler;

/**
 * A handler answering with `answer()`'s outcome (a thrown error in our shape), counted under
 * `route`. Errors of the services become our answer; what fails after that (sending it) goes to
 * Express's error handling through next, never to an unhandled rejection.
 */
function answeredWith({ metrics, logger }: ExpressParts): Answered {
  return (route, answer) => (req, res, next) => {
    const started = performance.now();
    answer(req)
      .catch((error: unknown) => answerError(error, logger))
      .then((out) => {
        metrics.httpRequest(req.method, route, out.status, performance.now() - started);
        send(res, out);
      })
      .catch(next);
  };
}

/** The metered-usage routes: track, read, reserve, finalize, release. */
function usageHandlers(
  { bodyLimit, tenantOf, usage }: ExpressParts,
  answered: Answered,
): Pick<ExpressAdapter, 'usageTrack' | 'usage' | 'usageReserve' | 'usageFinalize' | 'usageRelease'> {
  /** The JSON body: what `express.json()` left, else read here. */
  async function jsonBody(req: Request): Promise<unknown> {
    if (req.body !== undefined && !(isEmptyObject(req.body) && !req.readableEnded)) return req.body;
    return readBody(req, bodyLimit);
  }

  return {
    usageTrack: answered('usage_track', async (req) => {
      const tenantId = await tenantOf(req);
      const body = await jsonBody(req);
      if (body === 'too_large')
        return errorAnswer(413, 'payload_too_large', `Request body is larger than ${bodyLimit} bytes`);
      return answerUsageTrack(usage(), tenantId, body);
    }),

    usage: answered('usage', async (req) => answerUsageRead(usage(), await tenantOf(req))),

    usageReserve: answered('usage_reserve', async (req) => {
      const tenantId = await tenantOf(req);
      const body = await jsonBody(req);
      if (body === 'too_large')
        return errorAnswer(413, 'payload_too_large', `Request body is larger than ${bodyLimit} bytes`);
      return answerUsageReserve(usage(), tenantId, body);
    }),

    usageFinalize: answered('usage_finalize', async (req) => {
      const tenantId = await tenantOf(req);
      const body = await jsonBody(req);
      if (body === 'too_large')
        return errorAnswer(413, 'payload_too_large', `Request body is larger than ${bodyLimit} bytes`);
      return answerUsageSettle(usage(), tenantId, { op: 'finalize', id: pathId(req), body });
    }),

    usageRelease: answered('usage_release', async (req) =>
      answerUsageSettle(usage(), await tenantOf(req), { op: 'release', id: pathId(req) }),
    ),
  };
}

function send(res: Response, answer: HttpAnswer) {
  res.status(answer.status).set(answer.headers);
  if (answer.body === null) res.end();
  else if (answer.json !== undefined) res.type('application/json').send(answer.json);
  else res.json(answer.body);
}

async function ofrepAnswer(
  { bodyLimit, logger, ofrep }: ExpressParts,
  req: Request,
  endpoint: NonNullable<ReturnType<typeof ofrepEndpoint>>,
) {
  let body: unknown = req.body;
  if (body === undefined || (isEmptyObject(body) && !req.readableEnded)) {
    const read = await readBody(req, bodyLimit);
    if (read === 'too_large') {
      return errorAnswer(413, 'payload_too_large', `Request body is larger than ${bodyLimit} bytes`);
    }
    body = read;
  }
  const request = {
    header: (name: string) => req.get(name),
    body,
    raw: req,
    logError: (error: unknown) => logger.error({ err: error }, 'OFREP evaluation failed'),
  };
  return endpoint.bulk ? answerOfrepBulk(ofrep(), request) : answerOfrepFlag(ofrep(), endpoint.key, request);
}

async function webhookAnswer(
  { webhookHandler, metrics, logger, bodyLimit }: ExpressParts,
  req: Request,
): Promise<HttpAnswer> {
  const handler = webhookHandler();
  const signature = req.headers['stripe-signature'];
  // Whatever a body parser left: a Buffer (express.raw), a string (express.text), an object
  // (express.json: too late), or nothing, when the stream is still ours to read.
  let body: unknown = req.body;
  if (body === undefined || (isEmptyObject(body) && !req.readableEnded)) {
    if (!isJsonContentType(req.headers['content-type'])) {
      metrics.webhookRejected('unsupported_media_type');
      return errorAnswer(415, 'unsupported_media_type', 'Stripe webhooks are sent as application/json');
    }
    if (req.readableEnded) {
      metrics.webhookRejected('body_already_read');
      return errorAnswer(
        400,
        'body_already_read',
        'The request stream was consumed before the Stripe webhook middleware ran. ' +
          EXPRESS_PARSED_BODY_HINT,
      );
    }
    const read = await readBody(req, bodyLimit);
    if (read === 'too_large') {
      metrics.webhookRejected('payload_too_large');
      return errorAnswer(413, 'payload_too_large', `Request body is larger than ${bodyLimit} bytes`);
    }
    body = read;
  }
  return answerWebhook(handler, body, signature, {
    metrics,
    logger,
    parsedBodyHint: EXPRESS_PARSED_BODY_HINT,
  });
}

/** The `:id` of the route the handler is mounted at. */
const pathId = (req: Request): string | undefined =>
  typeof req.params.id === 'string' ? req.params.id : undefined;

/** express.json() of Express 4 leaves `{}` on requests it did not parse; that is not a parsed webhook. */
function isEmptyObject(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && !Buffer.isBuffer(value) && Object.keys(value).length === 0
  );
}

function readBody(req: Request, limit: number): Promise<Buffer | 'too_large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        // Stop buffering but let the rest drain, so the 413 can still be written on this socket.
        req.resume();
        resolve('too_large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}
