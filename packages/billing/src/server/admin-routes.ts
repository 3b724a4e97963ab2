import type { FastifyPluginAsync } from 'fastify';

// Owned by the admin API work: authenticated /api/admin/* endpoints.
export interface AdminRouteDeps {}

export const adminRoutes: FastifyPluginAsync<AdminRouteDeps> = async () => {};
