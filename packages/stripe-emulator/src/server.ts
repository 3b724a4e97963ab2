import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { EmulatorCore } from './core.js';
import { handleControl } from './control.js';
import { ApiError } from './errors.js';
import { applyExpand, validateExpand } from './expand.js';
import type { FaultSpec } from './faults.js';
import { header, parseForm, readBody, sendJson } from './http-util.js';
import { newId } from './ids.js';
import { isFreshResponse } from './list.js';
import { expireIfDue } from './resources/checkout.js';
import { matchRoute, normalisePath } from './router.js';
import { API_VERSION } from './version.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function maskKey(key: string): string {
  if (key.length <= 12) return key.replace(/.(?=.{4})/g, '*');
  const prefix = key.match(/^[a-z]+_(test_|live_)?/)?.[0] ?? '';
  return prefix + '*'.repeat(Math.max(0, key.length - prefix.length - 4)) + key.slice(-4);
}

function authenticate(req: IncomingMessage, apiKey: string): ApiError | undefined {
  const auth = header(req, 'authorization');
  let provided: string | undefined;
  if (auth?.startsWith('Bearer ')) provided = auth.slice(7).trim();
  else if (auth?.startsWith('Basic ')) {
    // curl -u sk_test_...: the key is the basic-auth username.
    provided = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':')[0];
  }
  if (!provided) {
    return new ApiError(
      401,
      'invalid_request_error',
      "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
    );
  }
  if (provided !== apiKey) {
    return new ApiError(401, 'invalid_request_error', `Invalid API Key provided: ${maskKey(provided)}`);
  }
  return undefined;
}

function faultError(fault: FaultSpec): ApiError {
  const headers: Record<string, string> = {};
  if (fault.status === 429) {
    headers['Retry-After'] = String(fault.retryAfterSeconds ?? 1);
    if (fault.shouldRetry !== false) headers['Stripe-Should-Retry'] = 'true';
    return new ApiError(
      429,
      'invalid_request_error',
      'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
      'rate_limit',
      undefined,
      headers,
    );
  }
  if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
  if (fault.shouldRetry !== undefined) headers['Stripe-Should-Retry'] = String(fault.shouldRetry);
  return new ApiError(
    fault.status,
    'api_error',
    fault.status === 503
      ? 'The Stripe API is temporarily unavailable. Please try again later.'
      : 'An unknown error occurred. Please try again later.',
    undefined,
    undefined,
    headers,
  );
}

/** Serves one Stripe API request: counting, latency, faults, auth, idempotency, dispatch, expansion. */
async function handleApi(
  core: EmulatorCore,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  rawBody: string,
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const pathname = url.pathname;
  const match = matchRoute(method, pathname);
  const pattern = match?.route.path;
  core.counts.increment(`${method} ${pattern ?? normalisePath(pathname)}`);

  const requestId = newId('req');
  const idempotencyKey = method === 'POST' ? header(req, 'idempotency-key') : undefined;
  const baseHeaders: Record<string, string> = {
    'Request-Id': requestId,
    'Stripe-Version': header(req, 'stripe-version') ?? API_VERSION,
    ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}),
  };
  const fail = (err: ApiError) => sendJson(res, err.status, err.toJSON(), { ...baseHeaders, ...err.headers });

  await core.faults.waitIfHeld(method, pathname, pattern);
  const latency = core.faults.latencyFor(method, pathname, pattern);
  if (latency > 0) await sleep(latency);
  const fault = core.faults.take(
    method,
    pathname,
    pattern,
    `${method} ${url.pathname}${url.search} ${idempotencyKey ?? ''}`,
  );
  if (fault) return fail(faultError(fault));

  const authError = authenticate(req, core.options.apiKey);
  if (authError) return fail(authError);
  if (!match) {
    return fail(
      new ApiError(
        404,
        'invalid_request_error',
        `Unrecognized request URL (${method}: ${pathname}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      ),
    );
  }

  const params = { ...parseForm(url.search.slice(1)), ...(rawBody ? parseForm(rawBody) : {}) };
  let finish: ((status: number, body: string) => void) | undefined;
  if (idempotencyKey) {
    try {
      const outcome = core.idempotency.begin(core.options.apiKey, idempotencyKey, method, pathname, params);
      if (outcome.kind === 'replay') {
        return sendJson(res, outcome.status, outcome.body, { ...baseHeaders, 'Idempotent-Replayed': 'true' });
      }
      finish = outcome.finish;
    } catch (err) {
      if (err instanceof ApiError) return fail(err);
      throw err;
    }
  }

  let status = 200;
  let body: unknown;
  let extraHeaders: Record<string, string> = {};
  try {
    const ctx = core.ctx({ id: requestId, idempotency_key: idempotencyKey ?? null });
    validateExpand(params.expand, core.options.maxExpandDepth);
    const answer = match.route.handler({ ctx, params, id: match.id, subId: match.subId });
    // A handler may answer a stored object, which expansion would then change: copy all but fresh pages.
    const result = isFreshResponse(answer) ? answer : structuredClone(answer);
    body = applyExpand(ctx, result, params.expand, core.options.maxExpandDepth);
  } catch (err) {
    const apiError =
      err instanceof ApiError
        ? err
        : new ApiError(500, 'api_error', `Emulator error: ${(err as Error)?.message ?? String(err)}`);
    if (!(err instanceof ApiError)) console.error('[stripe-emulator]', err);
    status = apiError.status;
    body = apiError.toJSON();
    extraHeaders = apiError.headers;
  }
  const text = JSON.stringify(body, null, 2);
  finish?.(status, text);
  sendJson(res, status, text, { ...baseHeaders, ...extraHeaders });
}

function checkoutPage(core: EmulatorCore, res: ServerResponse, id: string): void {
  const stored = core.store.checkoutSessions.get(id);
  // Loading a lapsed session is what shows a customer "expired" on Stripe too.
  const session = stored && expireIfDue(core.ctx(), stored);
  const html = session
    ? `<!doctype html><title>Checkout ${id}</title><h1>Stripe emulator checkout</h1><p>Session <code>${id}</code> (${session.mode}, ${session.status}).</p>`
    : `<!doctype html><title>Not found</title><p>No such checkout session.</p>`;
  res.writeHead(session ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(html);
}

export function createServer(core: EmulatorCore): http.Server {
  return http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://emulator.local');
      const rawBody = await readBody(req);
      if (url.pathname.startsWith('/_emulator/')) return handleControl(core, req, res, url, rawBody);
      const checkout = url.pathname.match(/^\/checkout\/([^/]+)$/);
      if (checkout && req.method === 'GET') return checkoutPage(core, res, checkout[1]!);
      return handleApi(core, req, res, url, rawBody);
    })().catch((err: unknown) => {
      console.error('[stripe-emulator]', err);
      if (!res.headersSent) sendJson(res, 500, { error: { type: 'api_error', message: String(err) } });
      else res.end();
    });
  });
}
