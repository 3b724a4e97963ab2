import type { FastifyRequest } from 'fastify';
import type { PrismaClient } from '@packages/db';
import type { CustomPlanService } from '../../flows/custom-plans/index.js';
import type { FeatureSyncService, SyncRuns } from '../../flows/feature-sync/index.js';
import type { AuthConfig, Principal } from '../../io/http/auth.js';
import { HttpError } from '../../io/http/error-response.js';
import type { UsageService } from '../../flows/usage/index.js';
import type { StripeWebhookPipeline } from '../../flows/webhooks/index.js';

/*
 * What every /api/admin/* route plugin shares: its dependencies and the principal the admin API's
 * onRequest hook (admin-routes.ts) puts on the request, with the checks the routes make on it.
 */

/** The services behind the admin API (authenticated /api/admin/* endpoints). */
export interface AdminRouteDeps {
  prisma: PrismaClient;
  /** Read pool for GET routes, so they never queue behind webhook or sync writes (default `prisma`). */
  readPrisma?: PrismaClient;
  /** Needed by apply-plan and sync; those answer 503 without it. */
  featureSync?: FeatureSyncService;
  /**
   * Bulk sync runs (POST /api/admin/sync, /api/admin/sync/runs/*); default: built over `featureSync`
   * and `prisma` / `readPrisma`, stopped when the server closes.
   */
  syncRuns?: SyncRuns;
  /** Longest wait of `POST /api/admin/sync?wait=true` before it answers 202 (default 25 s). */
  syncWaitMs?: number;
  /** Needed by custom-plans; answers 503 without it. */
  customPlans?: CustomPlanService;
  /** Without it every admin request is refused (401): the API fails closed, never open. */
  auth?: AuthConfig;
  /** The webhook inbox: replays are handed to its workers (or processed in the request when none runs). */
  webhooks?: StripeWebhookPipeline;
  /** Metered features (docs/usage.md); the usage routes answer 503 without it. */
  usage?: UsageService;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export function unauthorized(message: string): HttpError {
  return new HttpError(401, 'unauthorized', message, { 'www-authenticate': 'Bearer realm="admin"' });
}

export function forbidden(message: string): HttpError {
  return new HttpError(403, 'forbidden', message);
}

export function authenticated(request: FastifyRequest): Principal {
  // The onRequest hook guarantees it; this keeps the types honest if a route ever escapes the hook.
  if (!request.principal) throw unauthorized('Missing bearer token');
  return request.principal;
}

export function requireAdmin(request: FastifyRequest): Principal {
  const principal = authenticated(request);
  if (principal.role !== 'admin') throw forbidden('This endpoint needs an admin token');
  return principal;
}
