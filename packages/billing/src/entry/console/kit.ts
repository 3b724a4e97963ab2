import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PrismaClient } from '@packages/db';
import type { CustomPlanService } from '../../flows/custom-plans/index.js';
import type { FeatureSyncService } from '../../flows/feature-sync/index.js';
import type { AuthConfig, Principal } from '../../io/http/auth.js';
import { HttpError } from '../../io/http/error-response.js';
import type { FeatureCatalog } from '../../core/types.js';
import type { UsageService } from '../../flows/usage/index.js';
import type { StripeWebhookPipeline } from '../../flows/webhooks/index.js';
import type { Html } from './html.js';
import type { ConsoleSession } from './session.js';
import type { Flash, PageContext } from './views/layout.js';

/** What the console is built from (plugin.ts) and its route handlers read (routes.ts). */
export interface ConsoleDeps {
  prisma: PrismaClient;
  featureSync?: FeatureSyncService;
  customPlans?: CustomPlanService;
  /** The admin API's token configuration; without it nobody can sign in. */
  auth?: AuthConfig;
  /** CONSOLE_SESSION_SECRET (≥ 32 characters); without it the console answers 503. */
  consoleSecret?: string;
  catalog?: FeatureCatalog;
  /** Reads (lists, pages) go here when set: the read pool, so they never queue behind writes. */
  readPrisma?: PrismaClient;
  /** The webhook inbox: a replay is handed to this process's workers (or processed in the request). */
  webhooks?: StripeWebhookPipeline;
  /** Metered features: the tenant page shows the usage panel with it. */
  usage?: UsageService;
  /** The webhook handler's payment grace policy, to show when a tenant's grace ends. */
  gracePeriodDays?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession?: ConsoleSession;
    consolePrincipal?: Principal;
  }
}

/** What the route handlers get besides the request: rendering, flashing and role checks. */
export interface ConsoleKit {
  deps: ConsoleDeps;
  ctx(request: FastifyRequest): PageContext;
  send(reply: FastifyReply, page: Html, status?: number): FastifyReply;
  /** Post/redirect/get with a one-time message for the next page. */
  redirect(reply: FastifyReply, location: string, flash?: Flash): FastifyReply;
  requireAdmin(request: FastifyRequest): Principal;
  principal(request: FastifyRequest): Principal;
}

/** The feature sync service the console's plan pages need: 503 on a server built without it. */
export function requireFeatureSync(deps: ConsoleDeps): FeatureSyncService {
  if (!deps.featureSync)
    throw new HttpError(503, 'not_configured', 'The feature sync service is not configured on this server.');
  return deps.featureSync;
}
