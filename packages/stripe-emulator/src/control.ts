import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorCore } from './core.js';
import type { FaultSpec, RequestMatch } from './faults.js';
import { completeCheckout, payInvoice, setStatus, triggerTrialWillEnd } from './helpers.js';
import { header, parseForm, sendJson } from './http-util.js';
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus } from './resources/subscriptions.js';
import { seedCustomers, type SeedCustomer } from './seed.js';

type Json = Record<string, unknown>;

function parseBody(req: IncomingMessage, raw: string): Json {
  if (!raw) return {};
  if ((header(req, 'content-type') ?? '').includes('json')) return JSON.parse(raw) as Json;
  return parseForm(raw);
}

/** JSON can't carry a RegExp, so `pathPattern` is accepted as its source. */
function matchFrom(body: Json): RequestMatch {
  const match: RequestMatch = {};
  if (typeof body.method === 'string') match.method = body.method;
  if (typeof body.path === 'string') match.path = body.path;
  if (typeof body.pathPattern === 'string') match.path = new RegExp(body.pathPattern);
  return match;
}

const num = (v: unknown): number | undefined => (v === undefined || v === '' ? undefined : Number(v));
const boolOf = (v: unknown): boolean | undefined =>
  v === undefined ? undefined : v === true || v === 'true';

/**
 * `/_emulator/*`: the programmatic API for processes that talk to a CLI-started
 * emulator over HTTP. Unauthenticated, uncounted and never faulted.
 */
export async function handleControl(
  core: EmulatorCore,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  raw: string,
): Promise<void> {
  const method = req.method ?? 'GET';
  const route = `${method} ${url.pathname.replace(/^\/_emulator/, '')}`;
  let body: Json;
  try {
    body = parseBody(req, raw);
  } catch {
    return sendJson(res, 400, { error: { type: 'invalid_request_error', message: 'Invalid JSON body' } });
  }
  try {
    const sub = url.pathname.match(/^\/_emulator\/subscriptions\/([^/]+)\/(status|pay|trial_will_end)$/);
    if (sub && method === 'POST') {
      const [, id, action] = sub as unknown as [string, string, string];
      if (action === 'status') {
        const status = body.status as SubscriptionStatus;
        if (!SUBSCRIPTION_STATUSES.includes(status))
          throw new Error(`Invalid status: ${String(body.status)}`);
        return sendJson(res, 200, setStatus(core, id, status));
      }
      if (action === 'pay') return sendJson(res, 200, payInvoice(core, id, boolOf(body.succeeded) ?? true));
      return sendJson(res, 200, triggerTrialWillEnd(core, id));
    }
    const checkout = url.pathname.match(/^\/_emulator\/checkout\/sessions\/([^/]+)\/complete$/);
    if (checkout && method === 'POST') return sendJson(res, 200, completeCheckout(core, checkout[1]!));
    switch (route) {
      case 'POST /reset':
        core.reset();
        return sendJson(res, 200, { ok: true });
      case 'POST /customers': {
        if (!Array.isArray(body.customers)) throw new Error('customers must be an array');
        const events = boolOf(body.events);
        const perSecond = num(body.perSecond);
        const seeded = seedCustomers(core, body.customers as SeedCustomer[], {
          ...(events === undefined ? {} : { events }),
          ...(perSecond === undefined ? {} : { perSecond }),
        });
        return sendJson(res, 200, { data: seeded });
      }
      case 'GET /stats':
        return sendJson(res, 200, core.stats());
      case 'GET /requests':
        return sendJson(res, 200, core.counts.snapshot());
      case 'DELETE /requests':
        core.counts.reset();
        return sendJson(res, 200, { ok: true });
      case 'GET /faults':
        return sendJson(res, 200, { faults: core.faults.pending() });
      case 'POST /faults': {
        const status = num(body.status);
        if (status !== 429 && status !== 500 && status !== 503)
          throw new Error('status must be 429, 500 or 503');
        const fault: FaultSpec = { ...matchFrom(body), status, count: num(body.count) };
        const retryAfter = num(body.retryAfterSeconds);
        if (retryAfter !== undefined) fault.retryAfterSeconds = retryAfter;
        const shouldRetry = boolOf(body.shouldRetry);
        if (shouldRetry !== undefined) fault.shouldRetry = shouldRetry;
        if (boolOf(body.eachRequest)) fault.eachRequest = true;
        core.faults.inject(fault);
        return sendJson(res, 200, { ok: true });
      }
      case 'POST /latency':
        core.faults.injectLatency(num(body.ms) ?? 0, matchFrom(body));
        return sendJson(res, 200, { ok: true });
      case 'DELETE /faults':
        core.faults.clear();
        return sendJson(res, 200, { ok: true });
      case 'GET /events':
        return sendJson(res, 200, { data: core.events.all() });
      case 'POST /webhook': {
        const target = typeof body.url === 'string' && body.url !== '' ? body.url : null;
        core.webhooks.configure(target, {
          secret: typeof body.secret === 'string' ? body.secret : undefined,
          autoDeliver: boolOf(body.autoDeliver),
        });
        return sendJson(res, 200, { ok: true });
      }
      case 'POST /deliver_pending':
        return sendJson(res, 200, { data: await core.webhooks.deliverPending() });
      case 'POST /wait_for_deliveries':
        await core.webhooks.waitForDeliveries();
        return sendJson(res, 200, { ok: true });
      default:
        return sendJson(res, 404, {
          error: { type: 'invalid_request_error', message: `Unknown control endpoint ${route}` },
        });
    }
  } catch (err) {
    return sendJson(res, 400, { error: { type: 'invalid_request_error', message: (err as Error).message } });
  }
}
