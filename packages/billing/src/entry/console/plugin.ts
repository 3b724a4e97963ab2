import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { errorResponse, HttpError, type ErrorPages } from '../../io/http/error-response.js';
import { authenticateToken, authenticateTokenHash, hashToken, type Principal } from '../../io/http/auth.js';
import { hasControlCharacter } from '../../io/identifiers.js';
import { field, parseFormBody, type FormBody } from './form.js';
import { planRoutes } from './plan-routes.js';
import { consoleRoutes } from './routes.js';
import {
  createSessionKeys,
  createSessionStore,
  DEFAULT_SESSION_TTL_SECONDS,
  LOGIN_COOKIE,
  parseCookies,
  SESSION_COOKIE,
  sessionCookie,
  type SessionKeys,
} from './session.js';
import { errorPage, type Flash } from './views/layout.js';
import type { ConsoleDeps, ConsoleKit } from './kit.js';
import { loginPage } from './views/login.js';

const FLASH_COOKIE = 'entitlements_console_flash';
const ASSETS: Record<string, { file: string; type: string }> = {
  'console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
  'console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
};
const SECURITY_HEADERS = {
  // Every asset is ours: no inline script or style, no third-party origin, no framing.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

/**
 * The server's 404 and 405 under `/admin` (no console route matched, so none of the console's hooks
 * ran): a page a browser can show, with the console's headers, instead of the API's JSON.
 */
export const consoleErrorPages: ErrorPages = {
  prefix: '/admin',
  render(status, message) {
    const page = errorPage({ principal: null, csrf: '', flash: null }, status, message);
    return { headers: { ...SECURITY_HEADERS, 'cache-control': 'no-store' }, html: page.value };
  },
};

/**
 * The admin console under /admin: server-rendered pages over the same services as the admin API,
 * signed in with the same tokens. Encapsulated (not fastify-plugin), so its form parser, hooks and
 * error pages never touch the JSON API.
 */
export const consolePlugin: FastifyPluginAsync<ConsoleDeps> = async (app, deps) => {
  const keys: SessionKeys | null = deps.consoleSecret ? createSessionKeys(deps.consoleSecret) : null;
  const sessions = createSessionStore(deps.prisma, deps.readPrisma ? { readPrisma: deps.readPrisma } : {});
  const assets = new Map(
    Object.entries(ASSETS).map(([name, a]) => [
      name,
      { body: readFileSync(new URL(`./assets/${a.file}`, import.meta.url)), type: a.type },
    ]),
  );

  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 64 * 1024 },
    (_request, body, done) => done(null, parseFormBody(body as string)),
  );

  const flashOf = (request: FastifyRequest): Flash | null => {
    // Signed: a flash is shown as the console's own words, so nobody else may set one.
    const raw = keys?.opened(parseCookies(request.headers.cookie).get(FLASH_COOKIE));
    if (!raw) return null;
    try {
      const parsed = JSON.parse(raw) as Flash;
      return typeof parsed.text === 'string' ? parsed : null;
    } catch {
      return null;
    }
  };

  const kit: ConsoleKit = {
    deps,
    ctx(request) {
      const session = request.consoleSession;
      return {
        principal: request.consolePrincipal ?? null,
        csrf: session && keys ? keys.csrfToken(session.sid) : '',
        flash: flashOf(request),
      };
    },
    send(reply, page, status = 200) {
      // A flash is shown once: the page that renders it clears it.
      if (parseCookies(reply.request.headers.cookie).has(FLASH_COOKIE))
        reply.header('set-cookie', `${FLASH_COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0`);
      return reply
        .code(status)
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(page.value);
    },
    redirect(reply, location, flash) {
      if (flash && keys) {
        const value = keys.seal(JSON.stringify(flash));
        reply.header(
          'set-cookie',
          `${FLASH_COOKIE}=${value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=60${secure(reply.request) ? '; Secure' : ''}`,
        );
      }
      // 303: the browser follows with a GET, so a reload never re-submits the form.
      return reply.code(303).header('location', location).send();
    },
    principal(request) {
      if (!request.consolePrincipal) throw new HttpError(401, 'unauthorized', 'Not signed in');
      return request.consolePrincipal;
    },
    requireAdmin(request) {
      const p = kit.principal(request);
      if (p.role !== 'admin') throw new HttpError(403, 'forbidden', 'This page needs an admin token.');
      return p;
    },
  };

  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    const path = request.url.split('?')[0]!;
    if (path.startsWith('/admin/assets/')) return;
    if (!keys)
      throw new HttpError(
        503,
        'not_configured',
        'The console is disabled: set CONSOLE_SESSION_SECRET (at least 32 characters).',
      );
    if (path === '/admin/login') return;
    const sid = keys.sidOf(parseCookies(request.headers.cookie).get(SESSION_COOKIE));
    const session = sid ? await sessions.find(sid) : null;
    const principal = session ? await authenticateTokenHash(deps.auth, session.tokenHash) : null;
    if (!session || !principal) {
      if (request.method === 'GET' || request.method === 'HEAD') {
        return reply
          .code(303)
          .header('location', `/admin/login?next=${encodeURIComponent(request.url)}`)
          .send();
      }
      throw new HttpError(401, 'unauthorized', 'Your session has ended; sign in again.');
    }
    request.consoleSession = session;
    request.consolePrincipal = principal;
    if (principal.role === 'tenant' && !tenantMay(request, principal))
      throw new HttpError(403, 'forbidden', 'A tenant token may only view its own tenant.');
  });

  // The synchronizer token: every state-changing request must carry this session's token, which a
  // cross-site form cannot read. (SameSite=Strict already keeps the cookie off such requests; the
  // token also covers same-site attackers and browsers without SameSite.)
  app.addHook('preHandler', async (request) => {
    if (request.method !== 'POST' || request.url.split('?')[0] === '/admin/login') return;
    const session = request.consoleSession;
    const presented = (request.body as FormBody | undefined)?._csrf;
    if (!session || !keys || !keys.csrfValid(session.sid, presented))
      throw new HttpError(
        403,
        'forbidden',
        'The form was not accepted (missing or invalid CSRF token). Reload the page and try again.',
      );
  });

  app.setErrorHandler((error, request, reply) => {
    // The API's one error shape and status table, rendered as a page.
    const { status, body } = errorResponse(error);
    if (status >= 500) request.log.error({ err: error }, 'console request failed');
    return kit.send(reply, errorPage(kit.ctx(request), status, body.error.message), status);
  });

  app.get('/admin/assets/:name', async (request, reply) => {
    const asset = assets.get((request.params as { name: string }).name);
    if (!asset) throw new HttpError(404, 'not_found', 'No such asset');
    return reply.type(asset.type).header('cache-control', 'public, max-age=300').send(asset.body);
  });

  signInRoutes(app, kit, keys, sessions);
  await consoleRoutes(app, kit);
  await planRoutes(app, kit);
};

/** Sign-in (a token for a server-side session, CSRF-checked by a nonce cookie) and sign-out. */
function signInRoutes(
  app: FastifyInstance,
  kit: ConsoleKit,
  keys: SessionKeys | null,
  sessions: ReturnType<typeof createSessionStore>,
): void {
  const { deps } = kit;
  /** The sign-in form with a fresh nonce: its signed copy in a cookie, its CSRF token in the form. */
  const signInForm = (request: FastifyRequest, reply: FastifyReply, next: string, error?: string) => {
    const nonce = randomBytes(16).toString('base64url');
    reply.header(
      'set-cookie',
      `${LOGIN_COOKIE}=${keys!.seal(nonce)}; Path=/admin/login; HttpOnly; SameSite=Strict; Max-Age=3600${secure(request) ? '; Secure' : ''}`,
    );
    const csrf = keys!.csrfToken(`login:${nonce}`);
    return loginPage(kit.ctx(request), { next, csrf, ...(error ? { error } : {}) });
  };

  app.get('/admin/login', async (request, reply) => {
    const next = safeNext((request.query as { next?: string }).next);
    return kit.send(reply, signInForm(request, reply, next));
  });

  app.post('/admin/login', async (request, reply) => {
    const body = request.body as FormBody | undefined;
    const next = safeNext(field(body, 'next'));
    // Login CSRF: a sign-in form posted from another site would sign the victim in as the attacker.
    // Refused when the browser says so (Origin, Referer, Sec-Fetch-Site), and in any case unless
    // the form carries the token of the nonce this console set with the form (a cross-site page
    // can read neither).
    if (!fromThisSite(request))
      throw new HttpError(403, 'forbidden', 'Sign-in is only accepted from the console itself.');
    const nonce = keys!.opened(parseCookies(request.headers.cookie).get(LOGIN_COOKIE));
    if (!nonce || !keys!.csrfValid(`login:${nonce}`, body?._csrf))
      throw new HttpError(
        403,
        'forbidden',
        'The sign-in form has expired or is not ours; reload the page and try again.',
      );
    const token = field(body, 'token');
    const principal = await authenticateToken(deps.auth, token || null);
    if (!principal)
      return kit.send(reply, signInForm(request, reply, next, 'Invalid or revoked token.'), 401);
    const { sid, cookieValue } = keys!.issue();
    await sessions.create(sid, hashToken(token));
    reply.header('set-cookie', [
      sessionCookie(cookieValue, { secure: secure(request), maxAgeSeconds: DEFAULT_SESSION_TTL_SECONDS }),
      `${LOGIN_COOKIE}=; Path=/admin/login; HttpOnly; SameSite=Strict; Max-Age=0`,
    ]);
    const landing =
      principal.role === 'tenant' ? `/admin/tenants/${encodeURIComponent(principal.tenantId!)}` : next;
    return reply.code(303).header('location', landing).send();
  });

  app.post('/admin/logout', async (request, reply) => {
    // Ended on the server: the old cookie opens nothing anywhere, whoever kept a copy.
    if (request.consoleSession) await sessions.end(request.consoleSession.sid);
    reply.header('set-cookie', sessionCookie('', { secure: secure(request), maxAgeSeconds: 0 }));
    return reply.code(303).header('location', '/admin/login').send();
  });
}

/** The only pages a tenant token may open: its own tenant (read-only), the landing redirect and sign-out. */
function tenantMay(request: FastifyRequest, principal: Principal): boolean {
  const route = request.routeOptions.url;
  if (request.method === 'POST') return route === '/admin/logout';
  if (route === '/admin') return true;
  if (route !== '/admin/tenants/:tenantId') return false;
  return (request.params as { tenantId?: string }).tenantId === principal.tenantId;
}

/**
 * Where sign-in may send the browser: only the console (`/admin` or a path under `/admin/`), as
 * the URL parser reads it (`..` resolved, `/admin.evil.com` and `/admin@evil.com` are other paths),
 * returned normalised: percent-encoded ASCII, so it is always a valid Location header. An open
 * redirect after sign-in would hand the session's trust to any URL; control characters (a CR LF
 * header injection) and backslashes (which browsers read as `/`) are refused outright.
 */
export function safeNext(next: string | undefined): string {
  const fallback = '/admin';
  if (
    !next ||
    !next.startsWith('/') ||
    next.startsWith('//') ||
    next.includes('\\') ||
    hasControlCharacter(next)
  )
    return fallback;
  const base = 'http://console.invalid';
  let url: URL;
  try {
    url = new URL(next, base);
  } catch {
    return fallback;
  }
  if (url.origin !== base) return fallback;
  if (url.pathname !== '/admin' && !url.pathname.startsWith('/admin/')) return fallback;
  return `${url.pathname}${url.search}`;
}

/**
 * False when the browser says the request comes from another site: an Origin or Referer whose host
 * is not the one this request was addressed to (Host, or X-Forwarded-Host behind a proxy: a
 * cross-site form cannot set either), an opaque `Origin: null`, or Sec-Fetch-Site other than
 * same-origin / none. Browsers that send none of them rely on the form's CSRF token alone.
 */
function fromThisSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const hosts = [request.headers.host, request.headers['x-forwarded-host']].filter(
    (h): h is string => typeof h === 'string' && h !== '',
  );
  for (const header of [request.headers.origin, request.headers.referer]) {
    if (header === undefined) continue;
    let host: string;
    try {
      host = new URL(header).host;
    } catch {
      return false;
    }
    if (!hosts.includes(host)) return false;
  }
  return true;
}

/**
 * Secure cookies when the browser reached us over https: directly, or through a proxy that says
 * so. Trusting the header here is harmless: on plain http a Secure cookie is merely not sent back.
 */
function secure(request: FastifyRequest): boolean {
  return request.protocol === 'https' || request.headers['x-forwarded-proto'] === 'https';
}
