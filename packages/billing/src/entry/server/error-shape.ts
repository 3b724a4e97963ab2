import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from 'fastify';
import type { HttpErrorCode } from '../../core/error-codes.js';
import { errorResponse, type ErrorPages } from '../../io/http/error-response.js';

export type { ErrorPages } from '../../io/http/error-response.js';

/**
 * One error shape, `{ "error": { "code", "message" } }`, for every response the server sends:
 * unknown routes (404), known paths with another method (405), malformed URLs (400), over-long
 * path segments (414), Fastify's own parsing errors and anything a route throws. Installed on the
 * root instance before any route plugin is registered, so every plugin inherits it; a plugin may
 * still set its own handler for its own errors (the webhook route does), in the same shape.
 *
 * Messages never echo the request's path or body back: a 414's path can be megabytes long and a
 * reflected value is a gift to whoever probes the API.
 */

/** A tenant id may be 255 characters, percent-encoding can triple that; anything longer is not ours. */
export const MAX_PARAM_LENGTH = 1024;

interface ErrorBody {
  error: { code: HttpErrorCode; message: string };
}

function body(code: HttpErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Fastify options for the errors raised before routing (they never reach an error handler). */
export function errorShapeOptions(): Pick<
  FastifyServerOptions,
  'frameworkErrors' | 'clientErrorHandler' | 'routerOptions'
> {
  return {
    // A router option: Fastify 5 deprecates the top-level `maxParamLength` (warning FSTDEP022).
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Fastify expects nothing back here; the reply is sent, so its promise-like return is dropped.
    frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
      if (error.code === 'FST_ERR_BAD_URL')
        return void reply
          .code(400)
          .send(body('bad_url', 'The request URL is malformed (invalid percent-encoding)'));
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH')
        return void reply
          .code(414)
          .send(body('uri_too_long', `A path segment is longer than ${MAX_PARAM_LENGTH} characters`));
      void reply.code(500).send(body('internal_error', 'Internal server error'));
    },
    // Raised on the socket, before there is a request object (header overflow, unparsable request line).
    clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket) {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const status =
        error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const code = status === 431 ? 'headers_too_large' : status === 408 ? 'request_timeout' : 'bad_request';
      const json = JSON.stringify(body(code, STATUS_CODES[status] ?? 'Bad request'));
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(json)}\r\nContent-Type: application/json; charset=utf-8\r\n\r\n${json}`,
        );
      }
      socket.destroy(error);
    },
  };
}

/** Route path patterns by method, collected as routes are added, to tell 405 from 404. */
function routeTable(app: FastifyInstance): (method: string, path: string) => string[] {
  const routes: { methods: string[]; pattern: RegExp }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map(String);
    // `:name` matches one segment, `*` the rest; everything else is literal.
    const source = route.url
      .split('/')
      .map((part) =>
        part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    routes.push({ methods, pattern: new RegExp(`^${source}$`) });
  });
  return (method, path) => {
    const allowed = new Set<string>();
    for (const route of routes) if (route.pattern.test(path)) route.methods.forEach((m) => allowed.add(m));
    allowed.delete(method);
    return [...allowed].sort();
  };
}

/** Installs the not-found and error handlers on the root instance; call before registering routes. */
export function installErrorShape(app: FastifyInstance, pages?: ErrorPages): void {
  const otherMethods = routeTable(app);
  const pageFor = (path: string) =>
    pages && (path === pages.prefix || path.startsWith(`${pages.prefix}/`)) ? pages : undefined;
  const answer = (
    reply: FastifyReply,
    path: string,
    status: number,
    code: HttpErrorCode,
    message: string,
  ) => {
    const page = pageFor(path)?.render(status, message);
    if (!page) return reply.code(status).send(body(code, message));
    return reply.code(status).headers(page.headers).type('text/html; charset=utf-8').send(page.html);
  };

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = otherMethods(request.method, path);
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return answer(
        reply,
        path,
        405,
        'method_not_allowed',
        `Method ${request.method} is not allowed here; allowed: ${allowed.join(', ')}`,
      );
    }
    return answer(reply, path, 404, 'not_found', `No route for ${request.method} on this path`);
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, body: payload, headers } = errorResponse(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(status).headers(headers).send(payload);
  });
}
