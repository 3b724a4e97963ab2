import { createHash } from 'node:crypto';
import { isCatalogSource, type CatalogSource } from '../../io/catalog/registry.js';
import type { TenantFeatures } from '../../io/feature-cache/index.js';
import type { TenantFeatureSource } from '../../flows/features/checks.js';
import { isTenantId } from '../../io/identifiers.js';
import { authenticateToken, bearerToken, type AuthConfig } from '../../io/http/auth.js';
import type { FeatureCatalog } from '../../core/types.js';
import {
  evaluateAll,
  evaluateFlag,
  isNotFound,
  type FlagEvaluation,
  type RemainingOf,
} from './evaluation.js';

/**
 * OFREP, the OpenFeature Remote Evaluation Protocol (open-feature/protocol, service/openapi.yaml),
 * framework-neutral: request facts in, status + headers + body out. Our server and the web,
 * Express and Fastify adapters only translate their request and response objects.
 *
 *   POST /ofrep/v1/evaluate/flags/{key}   one flag for `context.targetingKey` (the tenant id)
 *   POST /ofrep/v1/evaluate/flags         every flag, with an ETag; `If-None-Match` → 304
 *
 * Bodies are OFREP's shapes, not our `{ error: { code, message } }`: the providers that call these
 * routes read `errorCode` / `errorDetails`.
 */

export const OFREP_FLAG_PATH = '/ofrep/v1/evaluate/flags/:key';
export const OFREP_BULK_PATH = '/ofrep/v1/evaluate/flags';

/** The error codes these endpoints answer with (OpenFeature's error codes). */
export const OFREP_ERROR_CODES = [
  'PARSE_ERROR',
  'TARGETING_KEY_MISSING',
  'INVALID_CONTEXT',
  'FLAG_NOT_FOUND',
  'GENERAL',
] as const;
export type OfrepErrorCode = (typeof OFREP_ERROR_CODES)[number];

/** Who is asking: a service (any tenant) or one tenant's key (only its own tenant). */
export interface OfrepCaller {
  /** null: a service token, which may evaluate any tenant. */
  tenantId: string | null;
}

/** Reads a request header by lower-case name. */
export type HeaderOf = (name: string) => string | undefined;

export interface OfrepOptions {
  /** Usually `featureSync.reader`: the cached reader, so evaluations cost no database read. */
  features: TenantFeatureSource;
  /** Known keys: a known key the tenant lacks is off, an unknown one FLAG_NOT_FOUND. */
  catalog?: FeatureCatalog | CatalogSource;
  /**
   * The caller of a request, or null when it is not authenticated (401). `raw` is the framework's
   * request object (a host adapter resolves its tenant from it).
   */
  authorize(header: HeaderOf, raw: unknown): Promise<OfrepCaller | null>;
  /** The amount left of a metered key for a tenant, when a usage service knows it. */
  remainingFor?(tenantId: string): Promise<RemainingOf | undefined>;
}

export interface OfrepAnswer {
  status: number;
  headers: Record<string, string>;
  /** null for a 304, which has no body. */
  body: unknown;
  /** `body` already serialised (a kept bulk answer): send it as is, as `application/json`. */
  json?: string;
}

export interface OfrepRequest {
  header: HeaderOf;
  /** The raw body (string or bytes) or one a framework already parsed. */
  body: unknown;
  /** The framework's request object, handed to `authorize`. */
  raw?: unknown;
  /** Told what made an answer a 500 (the body says nothing of it). */
  logError?(error: unknown): void;
}

/**
 * Bearer tokens (`Authorization: Bearer …` or OFREP's `X-API-Key`) checked against the admin API's
 * tokens: an admin token is a service token, a `tenant` token evaluates only its own tenant.
 */
export function tokenAuthorizer(auth: AuthConfig | undefined): OfrepOptions['authorize'] {
  return async (header) => {
    const principal = await authenticateToken(auth, presentedToken(header));
    if (!principal) return null;
    return { tenantId: principal.role === 'admin' ? null : principal.tenantId };
  };
}

export function presentedToken(header: HeaderOf): string | null {
  return bearerToken(header('authorization')) ?? header('x-api-key') ?? null;
}

/**
 * For a host app: a presented token is checked as `tokenAuthorizer` does (when `auth` is given);
 * without one, the request's own tenant (the host's session, through `resolveTenant`) is the
 * caller, evaluating only itself.
 */
export function hostAuthorizer<Req>(
  auth: AuthConfig | undefined,
  resolveTenant: ((request: Req) => unknown) | undefined,
): OfrepOptions['authorize'] {
  const byToken = tokenAuthorizer(auth);
  return async (header, raw) => {
    if (auth && presentedToken(header) !== null) return byToken(header, raw);
    if (!resolveTenant) return null;
    const tenantId = await resolveTenant(raw as Req);
    return typeof tenantId === 'string' && tenantId !== '' ? { tenantId } : null;
  };
}

/** Which OFREP endpoint a path names (a host mounting one handler for both), or null. */
export function ofrepEndpoint(path: string): { bulk: true } | { bulk: false; key: string } | null {
  const prefix = OFREP_BULK_PATH;
  const at = path.indexOf(prefix);
  if (at < 0) return null;
  const rest = path.slice(at + prefix.length).replace(/\/$/, '');
  if (rest === '') return { bulk: true };
  if (!rest.startsWith('/') || rest.indexOf('/', 1) >= 0) return null;
  try {
    return { bulk: false, key: decodeURIComponent(rest.slice(1)) };
  } catch {
    return null;
  }
}

type Context = { tenantId: string } | OfrepAnswer;

/** Auth, body and targeting key, in that order: an unauthenticated caller costs no parsing. */
async function contextOf(options: OfrepOptions, request: OfrepRequest, key?: string): Promise<Context> {
  const caller = await options.authorize(request.header, request.raw);
  if (!caller) {
    return {
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="ofrep"' },
      body: { errorDetails: 'Missing, invalid or revoked token (Authorization: Bearer, or X-API-Key)' },
    };
  }
  const keyed = key === undefined ? {} : { key };
  let body = request.body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      body = JSON.parse(body.toString());
    } catch {
      return failure(400, { ...keyed, errorCode: 'PARSE_ERROR', errorDetails: 'The body is not valid JSON' });
    }
  }
  const context = isObject(body) ? body.context : undefined;
  if (!isObject(context)) {
    return failure(400, {
      ...keyed,
      errorCode: 'INVALID_CONTEXT',
      errorDetails: 'The body must be a JSON object with a "context" object',
    });
  }
  const targetingKey = context.targetingKey;
  if (targetingKey === undefined || targetingKey === null || targetingKey === '') {
    return failure(400, {
      ...keyed,
      errorCode: 'TARGETING_KEY_MISSING',
      errorDetails: 'context.targetingKey (the tenant id) is required',
    });
  }
  if (typeof targetingKey !== 'string' || !isTenantId(targetingKey)) {
    return failure(400, {
      ...keyed,
      errorCode: 'INVALID_CONTEXT',
      errorDetails: 'context.targetingKey must be a tenant id (printable text, at most 255 characters)',
    });
  }
  if (caller.tenantId !== null && caller.tenantId !== targetingKey) {
    return { status: 403, headers: {}, body: { errorDetails: 'This key may only evaluate its own tenant' } };
  }
  return { tenantId: targetingKey };
}

async function catalogOf(options: OfrepOptions): Promise<FeatureCatalog | undefined> {
  const { catalog } = options;
  return isCatalogSource(catalog) ? catalog.current() : catalog;
}

async function read(options: OfrepOptions, tenantId: string) {
  const [tenant, catalog, remaining] = await Promise.all([
    options.features.getTenantFeatures(tenantId),
    catalogOf(options),
    options.remainingFor?.(tenantId),
  ]);
  return { tenant, catalog, remaining };
}

/** `POST /ofrep/v1/evaluate/flags/{key}`. */
export async function answerOfrepFlag(
  options: OfrepOptions,
  key: string,
  request: OfrepRequest,
): Promise<OfrepAnswer> {
  try {
    const context = await contextOf(options, request, key);
    if (!('tenantId' in context)) return context;
    const { tenant, catalog, remaining } = await read(options, context.tenantId);
    const result = evaluateFlag(key, tenant, catalog, remaining);
    if (isNotFound(result)) return failure(404, result);
    return { status: 200, headers: {}, body: result };
  } catch (error) {
    request.logError?.(error);
    return generalError();
  }
}

/** `POST /ofrep/v1/evaluate/flags`: every flag, with an ETag a matching `If-None-Match` turns into a 304. */
export async function answerOfrepBulk(options: OfrepOptions, request: OfrepRequest): Promise<OfrepAnswer> {
  try {
    const context = await contextOf(options, request);
    if (!('tenantId' in context)) return context;
    const { tenant, catalog, remaining } = await read(options, context.tenantId);
    // Metered values move without a version change, so their answers are never 304 and never reused.
    if (remaining !== undefined) {
      const etag = etagOf(context.tenantId, tenant, catalog, true);
      const flags = evaluateAll(tenant, catalog, remaining);
      const body = { flags, metadata: { version: tenant?.version ?? 0 } };
      return { status: 200, headers: { etag, 'cache-control': 'private, no-cache' }, body };
    }
    const answer = bulkAnswerOf(context.tenantId, tenant, catalog);
    if (matches(request.header('if-none-match'), answer.etag)) {
      return { status: 304, headers: answer.headers, body: null };
    }
    return { status: 200, headers: answer.headers, body: answer.body, json: answer.json };
  } catch (error) {
    request.logError?.(error);
    return generalError();
  }
}

interface BulkAnswer {
  tenantId: string;
  catalog: FeatureCatalog | undefined;
  etag: string;
  headers: Record<string, string>;
  body: { flags: FlagEvaluation[]; metadata: { version: number } };
  json: string;
}

/**
 * A tenant's bulk answer is a function of the cached tenant object and the catalog object alone:
 * both are replaced, never changed, when what they hold changes (a new version, a reloaded
 * catalog). So each cached tenant keeps its evaluated and serialised answer and its ETag, and a
 * request for an unchanged tenant costs no evaluation, no hash and no serialisation. Held weakly:
 * an answer goes when its tenant leaves the cache.
 */
const bulkAnswers = new WeakMap<TenantFeatures, BulkAnswer>();

function bulkAnswerOf(
  tenantId: string,
  tenant: TenantFeatures | null,
  catalog: FeatureCatalog | undefined,
): BulkAnswer {
  const kept = tenant ? bulkAnswers.get(tenant) : undefined;
  if (kept && kept.catalog === catalog && kept.tenantId === tenantId) return kept;
  const etag = etagOf(tenantId, tenant, catalog, false);
  const body = { flags: evaluateAll(tenant, catalog), metadata: { version: tenant?.version ?? 0 } };
  const answer: BulkAnswer = {
    tenantId,
    catalog,
    etag,
    headers: { etag, 'cache-control': 'private, no-cache' },
    body,
    json: JSON.stringify(body),
  };
  if (tenant) bulkAnswers.set(tenant, answer);
  return answer;
}

/**
 * What the bulk answer depends on: the tenant (its id hashed, so a client switching tenants never
 * gets another's 304), its committed version, and the catalog's size (keys are only ever added).
 */
export function etagOf(
  tenantId: string,
  tenant: TenantFeatures | null,
  catalog: FeatureCatalog | undefined,
  metered: boolean,
): string {
  const who = createHash('sha256').update(tenantId).digest('base64url').slice(0, 16);
  return `W/"${who}.${tenant?.version ?? 0}.${catalog?.size ?? 0}${metered ? `.${Date.now()}` : ''}"`;
}

/** `If-None-Match`: `*` or a comma list of tags, compared weakly (a `W/` prefix is ignored). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const bare = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === bare;
  });
}

function failure(status: number, body: { key?: string; errorCode: OfrepErrorCode; errorDetails: string }) {
  return { status, headers: {}, body };
}

function generalError(): OfrepAnswer {
  return failure(500, { errorCode: 'GENERAL', errorDetails: 'The flags could not be evaluated' });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
