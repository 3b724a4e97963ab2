import { z } from 'zod';
import { HTTP_ERROR_CODES } from '../../core/error-codes.js';

/**
 * The OpenAPI 3.1 document of our HTTP routes, generated from what each route declares next to
 * its handler (`documented({...})` in its route options): the same zod schemas the handler parses
 * its params, query and body with, converted by zod's own JSON Schema 2020-12 output (the dialect
 * of OpenAPI 3.1), plus the error statuses its authentication and input imply. A route registered
 * without a declaration still appears (the test in test/openapi.test.ts fails on it), so the
 * document cannot silently lose a route. No HTTP framework is imported here.
 */

/** Who may call a route. */
export type RouteAuth =
  /** An admin bearer token. */
  | 'admin'
  /** An admin token, or a tenant token for its own tenant. */
  | 'token'
  /** A bearer token the OFREP endpoints accept: a service (admin) token or a tenant key. */
  | 'ofrep'
  /** Stripe's signature header over the exact body. */
  | 'stripe-signature'
  | 'none';

export interface RouteDoc {
  summary: string;
  tag: string;
  auth: RouteAuth;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The success answer (default 200, JSON, no schema). */
  ok?: { status?: number; description: string; schema?: z.ZodType; contentType?: string };
  /** Error statuses besides those `auth` and the input imply (401/403; 400). */
  errors?: readonly number[];
  /** OFREP routes answer OFREP's error body, not ours. */
  errorBody?: 'api' | 'ofrep';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's OpenAPI declaration (src/io/http/openapi.ts). */
    openapi?: RouteDoc;
  }
}

/** Route options that carry the declaration: `app.get(url, documented({...}), handler)`. */
export function documented(doc: RouteDoc): { config: { openapi: RouteDoc } } {
  return { config: { openapi: doc } };
}

export interface RegisteredRoute {
  method: string;
  url: string;
  doc: RouteDoc | undefined;
}

/** The routes that belong in the document: not the console's HTML pages (under /admin, not /api/admin). */
export function isApiRoute(route: { url: string; method: string }): boolean {
  return route.method !== 'HEAD' && route.method !== 'OPTIONS' && !/^\/admin(\/|$)/.test(route.url);
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  304: 'Not modified (If-None-Match matched the ETag)',
  400: 'Invalid input: a path parameter, the query or the body (issues name each field)',
  401: 'Missing, invalid or revoked bearer token (or signature)',
  403: 'The token may not do this (a tenant token for another tenant, or an admin-only route)',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Body too large',
  415: 'Unsupported media type',
  500: 'Unexpected failure; details are in the server log',
  502: 'Stripe refused or failed',
  503: 'Not configured on this server, or a dependency (database, Stripe rate limit) unavailable',
};

const apiError = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: [...HTTP_ERROR_CODES] },
        message: { type: 'string' },
        issues: {
          type: 'array',
          items: {
            type: 'object',
            required: ['path', 'message'],
            properties: { path: { type: 'string' }, message: { type: 'string' } },
          },
        },
        step: { type: 'string' },
      },
    },
  },
};

const ofrepError = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    errorCode: { type: 'string' },
    errorDetails: { type: 'string' },
  },
};

type JsonSchema = Record<string, unknown>;

/** A zod schema as JSON Schema 2020-12, as callers send it (`io: 'input'`: before transforms). */
function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  return json;
}

function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const json = jsonSchemaOf(schema);
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: property,
  }));
}

/** The statuses a route can answer with an error: implied by its auth and input, plus its own. */
export function errorStatuses(doc: RouteDoc): number[] {
  const statuses = new Set<number>([500, ...(doc.errors ?? [])]);
  if (doc.auth === 'admin' || doc.auth === 'token' || doc.auth === 'ofrep') {
    statuses.add(401);
    statuses.add(403);
  }
  if (doc.auth === 'stripe-signature') statuses.add(400);
  if (doc.params || doc.query || doc.body) statuses.add(400);
  return [...statuses].sort((a, b) => a - b);
}

/** Fastify's `/a/:b` as OpenAPI's `/a/{b}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export function openApiDocument(
  routes: readonly RegisteredRoute[],
  info: { title: string; version: string; description?: string },
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes.filter(isApiRoute)) {
    const path = openApiPath(route.url);
    const method = route.method.toLowerCase();
    const doc = route.doc;
    (paths[path] ??= {})[method] = doc ? operation(route, doc) : undocumented(route);
  }
  return {
    openapi: '3.1.0',
    info,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An admin token (ADMIN_API_TOKENS or api_tokens), or a tenant token that reads only its own tenant',
        },
      },
      schemas: { Error: apiError, OfrepError: ofrepError },
    },
    paths,
  };
}

function operation(route: RegisteredRoute, doc: RouteDoc): JsonSchema {
  const parameters = [...parametersOf(doc.params, 'path'), ...parametersOf(doc.query, 'query')];
  // A path parameter the route names but declares no schema for is still a required string.
  for (const [, name] of route.url.matchAll(/:([A-Za-z0-9_]+)/g)) {
    if (!parameters.some((p) => p.in === 'path' && p.name === name))
      parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } });
  }
  if (doc.auth === 'stripe-signature') {
    parameters.push({
      name: 'Stripe-Signature',
      in: 'header',
      required: true,
      schema: { type: 'string' },
      description: "Stripe's signature over the exact body",
    });
  }
  const okStatus = doc.ok?.status ?? 200;
  const okContent =
    okStatus === 204
      ? undefined
      : {
          [doc.ok?.contentType ?? 'application/json']: {
            schema: doc.ok?.schema ? jsonSchemaOf(doc.ok.schema) : {},
          },
        };
  const errorRef = { $ref: `#/components/schemas/${doc.errorBody === 'ofrep' ? 'OfrepError' : 'Error'}` };
  const responses: Record<string, JsonSchema> = {
    [String(okStatus)]: {
      description: doc.ok?.description ?? 'OK',
      ...(okContent ? { content: okContent } : {}),
    },
  };
  for (const status of errorStatuses(doc)) {
    responses[String(status)] =
      status === 304
        ? { description: ERROR_DESCRIPTIONS[304]! }
        : {
            description: ERROR_DESCRIPTIONS[status] ?? 'Error',
            content: { 'application/json': { schema: errorRef } },
          };
  }
  return {
    operationId: operationId(route),
    summary: doc.summary,
    tags: [doc.tag],
    security: doc.auth === 'none' || doc.auth === 'stripe-signature' ? [] : [{ bearer: [] }],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(doc.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: jsonSchemaOf(doc.body) } },
          },
        }
      : {}),
    responses,
  };
}

/** What a route without a declaration gets: present, and saying so (the route test refuses it). */
function undocumented(route: RegisteredRoute): JsonSchema {
  return {
    operationId: operationId(route),
    summary: 'Undocumented',
    responses: { default: { description: 'Undocumented route' } },
  };
}

function operationId(route: RegisteredRoute): string {
  const words = route.url
    .split('/')
    .filter(Boolean)
    .map((segment) => segment.replace(/^:/, 'by_').replace(/[^A-Za-z0-9]+/g, '_'));
  return [route.method.toLowerCase(), ...words].join('_');
}
