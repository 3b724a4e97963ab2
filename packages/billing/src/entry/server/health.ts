import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { readMigrations, type PrismaClient } from '@packages/db';
import type { KeyValueCache } from '../../io/cache/index.js';
import { messageOf } from '../../core/errors.js';
import { documented } from '../../io/http/openapi.js';

/**
 * Liveness and readiness, for orchestrators and load balancers.
 *
 * - `GET /health/live`: the process is up and its event loop answers. Checks nothing else on
 *   purpose: a liveness probe that failed on a database outage would restart every instance at
 *   once and fix nothing.
 * - `GET /health/ready` (and `GET /health`): the instance can do its work: the database answers
 *   and every migration this build ships is applied. A load balancer routes traffic by this one;
 *   503 takes the instance out until it recovers. Redis is reported (`checks.redis`, `degraded`)
 *   but never makes an instance unready: lookups and webhooks work without it (the cache is
 *   optional), and a shared Redis outage would otherwise take every instance out at once.
 */
export interface HealthDeps {
  prisma: PrismaClient;
  /** Checked only when it is Redis: the in-process cache cannot be unreachable. */
  cache?: KeyValueCache;
  /** Longest a single check may take before it counts as failed (default 2000 ms). */
  healthCheckTimeoutMs?: number;
}

export type CheckStatus = 'ok' | 'failed' | 'not_configured';

export interface Readiness {
  ready: boolean;
  checks: {
    database: CheckStatus;
    migrations: CheckStatus;
    redis: CheckStatus;
  };
  /** What failed, in words safe to show an unauthenticated caller (details go to the log). */
  problems: string[];
  /** Optional dependencies that failed (Redis): reported, but the instance stays ready. */
  degraded: string[];
}

const HEALTH_KEY = 'health:ready';

export async function checkReadiness(
  deps: HealthDeps,
  expectedMigrations: readonly string[],
  log: (error: unknown, what: string) => void = () => {},
): Promise<Readiness> {
  const timeoutMs = deps.healthCheckTimeoutMs ?? 2000;
  const problems: string[] = [];
  const degraded: string[] = [];
  const checks: Readiness['checks'] = { database: 'ok', migrations: 'ok', redis: 'not_configured' };

  // One round trip proves the database answers and says which migrations it has.
  const database = withTimeout(
    deps.prisma.$queryRawUnsafe<{ name: string }[]>(
      'SELECT migration_name AS name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    ),
    timeoutMs,
  );
  const redis = deps.cache?.kind === 'redis' ? withTimeout(deps.cache.get(HEALTH_KEY), timeoutMs) : undefined;
  const [db, cache] = await Promise.allSettled([database, redis]);

  if (db.status === 'rejected') {
    log(db.reason, 'database');
    checks.database = 'failed';
    checks.migrations = 'failed';
    problems.push('database unreachable');
  } else {
    const applied = new Set(db.value.map((row) => row.name));
    const pending = expectedMigrations.filter((name) => !applied.has(name));
    if (pending.length > 0) {
      checks.migrations = 'failed';
      problems.push(`${pending.length} migration(s) not applied`);
    }
  }
  if (redis) {
    checks.redis = cache.status === 'fulfilled' ? 'ok' : 'failed';
    if (cache.status === 'rejected') {
      log(cache.reason, 'redis');
      degraded.push('redis unreachable');
    }
  }
  return { ready: problems.length === 0, checks, problems, degraded };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const healthRoutes: FastifyPluginAsync<HealthDeps> = async (app, deps) => {
  // The migrations this build ships; read once, they cannot change while the process runs.
  const expected = (await readMigrations()).map((m) => m.name);

  const readiness = async (request: FastifyRequest, reply: FastifyReply) => {
    const result = await checkReadiness(deps, expected, (error, check) =>
      request.log.warn({ check, err: messageOf(error) }, 'readiness check failed'),
    );
    if (result.ready) {
      if (result.degraded.length === 0) return { status: 'ready', checks: result.checks };
      return { status: 'ready', checks: result.checks, degraded: result.degraded };
    }
    return reply.code(503).send({
      error: {
        code: 'not_ready',
        message: `Not ready: ${result.problems.join('; ')}`,
        checks: result.checks,
      },
    });
  };

  app.get(
    '/health/live',
    documented({ summary: 'Liveness: the process answers', tag: 'health', auth: 'none' }),
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/health/ready',
    documented({
      summary: 'Readiness: database (and Redis) answer',
      tag: 'health',
      auth: 'none',
      errors: [503],
    }),
    readiness,
  );
  // The route load balancers are usually pointed at: it means ready, not merely alive.
  app.get(
    '/health',
    documented({
      summary: 'Readiness (the route load balancers are pointed at)',
      tag: 'health',
      auth: 'none',
      errors: [503],
    }),
    readiness,
  );
};
