import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { BillingError } from '../../core/errors.js';
import { parseOrThrow } from '../../flows/custom-plans/validation.js';
import {
  createSyncRuns,
  LISTED_SYNC_RESULTS,
  type FinishedSyncRun,
  type SyncRuns,
} from '../../flows/feature-sync/index.js';
import { HttpError } from '../../io/http/error-response.js';
import { documented } from '../../io/http/openapi.js';
import { tenantIdSchema } from '../../io/identifiers.js';
import { sqlThroughPrisma } from '../../io/sql-runner.js';
import { requireAdmin, type AdminRouteDeps } from './admin-access.js';

/*
 * A bulk sync as a run any instance answers for: POST starts it and answers its id at once (or,
 * asked to wait, its summary and first page when it ends within SYNC_WAIT_MS); GET reads its state
 * and its results page by page from `sync_runs` (docs/admin-api.md, "Sync runs").
 */

/** The longest `POST /api/admin/sync?wait=true` holds the request: below common load-balancer idle timeouts. */
export const SYNC_WAIT_MS = 25_000;
export const SYNC_RESULTS_MAX_LIMIT = 1_000;
export const SYNC_RUNS_MAX_LIMIT = 100;

const mergeStrategy = z.enum(['merge', 'replace', 'preserve']);

const syncBody = z
  .object({
    dryRun: z.boolean().optional(),
    force: z.boolean().optional(),
    mergeStrategy: mergeStrategy.optional(),
    limit: z.number().int().positive().max(1_000_000).optional(),
    tenantId: tenantIdSchema.optional(),
    includeUpToDate: z.boolean().optional(),
  })
  .strict();

const syncQuery = z.object({ wait: z.enum(['true', 'false']).optional() }).strict();
const runParam = z.object({ runId: z.uuid() });
const runsQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(SYNC_RUNS_MAX_LIMIT).optional().default(20) })
  .strict();
const resultsQuery = z
  .object({
    cursor: z
      .string()
      .regex(/^(0|[1-9][0-9]{0,9})$/, 'must be a nextCursor')
      .optional(),
    limit: z.coerce.number().int().min(1).max(SYNC_RESULTS_MAX_LIMIT).optional().default(100),
  })
  .strict();

export const syncRunRoutes: FastifyPluginAsync<AdminRouteDeps> = async (app, deps) => {
  const runs = deps.syncRuns ?? ownSyncRuns(deps);
  // Built here (a server without a context's): its runs are stopped and recorded when the server closes.
  if (runs && !deps.syncRuns) app.addHook('onClose', () => runs.close());
  const service = () => {
    if (!runs)
      throw new HttpError(503, 'not_configured', 'The feature sync service is not configured on this server');
    return runs;
  };

  app.post(
    '/api/admin/sync',
    documented({
      summary: 'Start a sync of every tenant (or one) from Stripe; answers its run id (202)',
      tag: 'plans',
      auth: 'admin',
      body: syncBody,
      query: syncQuery,
      ok: { status: 202, description: '{ runId, status }: follow it at GET /api/admin/sync/runs/{runId}' },
      errors: [409, 502, 503],
    }),
    async (request, reply) => {
      const principal = requireAdmin(request);
      const body = parseOrThrow(syncBody, request.body ?? {}, 'request body');
      const query = parseOrThrow(syncQuery, request.query ?? {}, 'query');
      const actor = `admin:${principal.name}`;
      const { runId, finished } = await service().start({ ...stripUndefined(body), actor, source: 'admin' });
      request.log.info({ actor, runId, options: body }, 'sync run started');
      void finished.then((outcome) => logEnd(app.log, outcome));
      reply.header('location', `/api/admin/sync/runs/${runId}`);
      const outcome = query.wait === 'true' ? await within(finished, deps.syncWaitMs ?? SYNC_WAIT_MS) : null;
      if (!outcome) return reply.code(202).send({ runId, status: 'running' });
      // The same answer a failure had when the sync ran inside the request (502 for Stripe, …).
      if (outcome.status === 'failed' && outcome.error !== undefined) throw outcome.error;
      const page = await service().results(runId, { limit: LISTED_SYNC_RESULTS });
      return reply.code(200).send({
        runId,
        status: outcome.status,
        summary: outcome.summary,
        results: page.results,
        nextCursor: page.nextCursor,
      });
    },
  );

  app.get(
    '/api/admin/sync/runs',
    documented({ summary: 'Sync runs, newest first', tag: 'plans', auth: 'admin', query: runsQuery }),
    async (request) => {
      requireAdmin(request);
      const query = parseOrThrow(runsQuery, request.query ?? {}, 'query');
      return { runs: await service().list(query.limit) };
    },
  );

  app.get(
    '/api/admin/sync/runs/:runId',
    documented({
      summary: "A sync run's status, progress and summary (from any instance)",
      tag: 'plans',
      auth: 'admin',
      params: runParam,
      errors: [404],
    }),
    async (request) => {
      requireAdmin(request);
      const { runId } = parseOrThrow(runParam, request.params, 'path parameters');
      return service().get(runId);
    },
  );

  app.get(
    '/api/admin/sync/runs/:runId/results',
    documented({
      summary: "A page of a sync run's results in the order decided, and the cursor of the next",
      tag: 'plans',
      auth: 'admin',
      params: runParam,
      query: resultsQuery,
      errors: [404],
    }),
    async (request) => {
      requireAdmin(request);
      const { runId } = parseOrThrow(runParam, request.params, 'path parameters');
      const query = parseOrThrow(resultsQuery, request.query ?? {}, 'query');
      const page = await service().results(runId, {
        limit: query.limit,
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      });
      return { runId, status: page.run.status, results: page.results, nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/api/admin/sync/runs/:runId/abort',
    documented({
      summary: 'Ask a running sync run to stop (on whichever instance runs it)',
      tag: 'plans',
      auth: 'admin',
      params: runParam,
      ok: { status: 202, description: 'The run, abortRequested; 200 when it was no longer running' },
      errors: [404],
    }),
    async (request, reply) => {
      const principal = requireAdmin(request);
      const { runId } = parseOrThrow(runParam, request.params, 'path parameters');
      const { run, requested } = await service().abort(runId);
      if (requested)
        request.log.info({ actor: `admin:${principal.name}`, runId }, 'sync run abort requested');
      return reply.code(requested ? 202 : 200).send(run);
    },
  );
};

/** A server built without a context's SyncRuns (tests, hosts): one over its own Prisma clients. */
function ownSyncRuns(deps: AdminRouteDeps): SyncRuns | undefined {
  if (!deps.featureSync) return undefined;
  return createSyncRuns(deps.featureSync, {
    sql: sqlThroughPrisma(deps.prisma),
    readSql: sqlThroughPrisma(deps.readPrisma ?? deps.prisma),
  });
}

function logEnd(log: FastifyBaseLogger, outcome: FinishedSyncRun): void {
  const { runId, status, summary, error } = outcome;
  if (status === 'failed' && !(error instanceof BillingError))
    log.error({ err: error, runId }, 'sync run failed');
  else log.info({ runId, status, summary, ...(error ? { error: String(error) } : {}) }, 'sync run ended');
}

/** `promise`'s value if it settles within `ms`, else null (the timer does not keep the process up). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), ms);
        timer.unref?.();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
