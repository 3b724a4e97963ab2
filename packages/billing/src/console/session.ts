import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Stateless console sessions: the cookie holds the sha256 of the token the operator signed in
 * with, a random session id and an expiry, HMAC-signed with the console secret. No session table
 * is needed, so any number of server processes sharing the secret accept the same cookie, and the
 * token itself is re-checked on every request (authenticateTokenHash), so revoking it ends every
 * session made with it. The plain token never leaves the sign-in request.
 */
export interface ConsoleSession {
  /** sha256 (hex) of the admin API token used to sign in. */
  tokenHash: string;
  /** Random per sign-in; the CSRF token is derived from it. */
  sid: string;
  /** Unix seconds. */
  expiresAt: number;
}

export const SESSION_COOKIE = 'entitlements_console';
export const DEFAULT_SESSION_TTL_SECONDS = 8 * 3600;
/** A shorter secret could be brute-forced offline from one cookie. */
export const MIN_SECRET_LENGTH = 32;

export interface SessionKeys {
  issue(tokenHash: string, now?: Date): { cookieValue: string; session: ConsoleSession };
  /** The session in a cookie value, or null when forged, malformed or expired. */
  read(cookieValue: string | undefined, now?: Date): ConsoleSession | null;
  /** The synchronizer token for forms of this session. */
  csrfToken(session: ConsoleSession): string;
  csrfValid(session: ConsoleSession, presented: unknown): boolean;
}

const b64 = (buf: Buffer | string) => Buffer.from(buf).toString('base64url');

/**
 * Constant-time comparison of the encoded strings, not of decoded bytes: base64url decoding ignores
 * the unused low bits of the last character, so a byte comparison would accept altered spellings.
 */
function sameText(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createSessionKeys(secret: string, ttlSeconds = DEFAULT_SESSION_TTL_SECONDS): SessionKeys {
  if (secret.length < MIN_SECRET_LENGTH)
    throw new Error(`The console session secret must be at least ${MIN_SECRET_LENGTH} characters`);
  // Separate keys per purpose, so a cookie signature can never be replayed as a CSRF token.
  const cookieKey = createHmac('sha256', secret).update('console-session-cookie').digest();
  const csrfKey = createHmac('sha256', secret).update('console-csrf').digest();
  const mac = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest();

  return {
    issue(tokenHash, now = new Date()) {
      const session: ConsoleSession = {
        tokenHash,
        sid: b64(randomBytes(16)),
        expiresAt: Math.floor(now.getTime() / 1000) + ttlSeconds,
      };
      const payload = b64(JSON.stringify({ h: session.tokenHash, s: session.sid, e: session.expiresAt }));
      return { cookieValue: `${payload}.${b64(mac(cookieKey, payload))}`, session };
    },
    read(cookieValue, now = new Date()) {
      if (!cookieValue) return null;
      const dot = cookieValue.indexOf('.');
      if (dot <= 0) return null;
      const payload = cookieValue.slice(0, dot);
      if (!sameText(cookieValue.slice(dot + 1), b64(mac(cookieKey, payload)))) return null;
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      } catch {
        return null;
      }
      const { h, s, e } = (parsed ?? {}) as { h?: unknown; s?: unknown; e?: unknown };
      if (typeof h !== 'string' || typeof s !== 'string' || typeof e !== 'number') return null;
      if (e <= now.getTime() / 1000) return null;
      return { tokenHash: h, sid: s, expiresAt: e };
    },
    csrfToken(session) {
      return b64(mac(csrfKey, session.sid));
    },
    csrfValid(session, presented) {
      return typeof presented === 'string' && sameText(presented, b64(mac(csrfKey, session.sid)));
    },
  };
}

/** Cookie header → name/value pairs (the first of duplicate names wins, as browsers send the most specific first). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

export function sessionCookie(value: string, options: { secure: boolean; maxAgeSeconds: number }): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/admin',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${options.maxAgeSeconds}`,
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}
