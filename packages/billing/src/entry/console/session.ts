import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PrismaClient } from '@packages/db';

/**
 * Console sessions, held on the server (`console_sessions`). The cookie carries only a random
 * session id, HMAC-signed with the console secret so a forged or garbled cookie is refused without
 * a database read; nothing in it says anything about the token. The row (keyed by the id's
 * sha256) holds the hash of the token that signed in and the expiry: signing out ends the row on
 * every instance, and the token itself is re-checked on every request (authenticateTokenHash), so
 * revoking or removing it ends every session made with it.
 */
export interface ConsoleSession {
  /** The random id in the cookie; the CSRF token is derived from it. */
  sid: string;
  /** sha256 (hex) of the admin API token used to sign in (from the row, never the cookie). */
  tokenHash: string;
  /** Unix seconds. */
  expiresAt: number;
}

export const SESSION_COOKIE = 'entitlements_console';
/** Holds the sign-in form's nonce until the form is posted (login CSRF). */
export const LOGIN_COOKIE = 'entitlements_console_login';
export const DEFAULT_SESSION_TTL_SECONDS = 8 * 3600;
/** A shorter secret could be brute-forced offline from one cookie. */
export const MIN_SECRET_LENGTH = 32;

/** The signing half: cookies, CSRF tokens and flashes. Pure (no I/O), so it is unit-tested alone. */
export interface SessionKeys {
  /** A fresh session id and the cookie value that carries it. */
  issue(): { sid: string; cookieValue: string };
  /** The session id in a cookie value, or null when forged or malformed. */
  sidOf(cookieValue: string | undefined): string | null;
  /** The synchronizer token for forms of this session. */
  csrfToken(sid: string): string;
  csrfValid(sid: string, presented: unknown): boolean;
  /** A signed value (flash messages, the sign-in nonce); `opened` returns the text or null. */
  seal(text: string): string;
  opened(value: string | undefined): string | null;
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

export function createSessionKeys(secret: string): SessionKeys {
  if (secret.length < MIN_SECRET_LENGTH)
    throw new Error(`The console session secret must be at least ${MIN_SECRET_LENGTH} characters`);
  // Separate keys per purpose, so a cookie signature can never be replayed as a CSRF token.
  const cookieKey = createHmac('sha256', secret).update('console-session-cookie').digest();
  const csrfKey = createHmac('sha256', secret).update('console-csrf').digest();
  const sealKey = createHmac('sha256', secret).update('console-sealed-value').digest();
  const mac = (key: Buffer, data: string) => b64(createHmac('sha256', key).update(data).digest());
  const split = (value: string | undefined): [string, string] | null => {
    if (!value) return null;
    const dot = value.lastIndexOf('.');
    return dot > 0 ? [value.slice(0, dot), value.slice(dot + 1)] : null;
  };

  return {
    issue() {
      const sid = b64(randomBytes(32));
      return { sid, cookieValue: `${sid}.${mac(cookieKey, sid)}` };
    },
    sidOf(cookieValue) {
      const parts = split(cookieValue);
      if (!parts || !/^[A-Za-z0-9_-]{43}$/.test(parts[0])) return null;
      return sameText(parts[1], mac(cookieKey, parts[0])) ? parts[0] : null;
    },
    csrfToken(sid) {
      return mac(csrfKey, sid);
    },
    csrfValid(sid, presented) {
      return typeof presented === 'string' && sameText(presented, mac(csrfKey, sid));
    },
    seal(text) {
      const payload = b64(text);
      return `${payload}.${mac(sealKey, payload)}`;
    },
    opened(value) {
      const parts = split(value);
      if (!parts || !sameText(parts[1], mac(sealKey, parts[0]))) return null;
      return Buffer.from(parts[0], 'base64url').toString('utf8');
    },
  };
}

/** The server-side half: one row per session, read on the read pool. */
export interface SessionStore {
  create(sid: string, tokenHash: string, now?: Date): Promise<ConsoleSession>;
  /** The live session with this id, or null (unknown, ended or expired). */
  find(sid: string, now?: Date): Promise<ConsoleSession | null>;
  end(sid: string, now?: Date): Promise<void>;
}

const idHash = (sid: string) => createHash('sha256').update(sid).digest('hex');

export function createSessionStore(
  prisma: PrismaClient,
  options: { readPrisma?: PrismaClient; ttlSeconds?: number } = {},
): SessionStore {
  const ttl = options.ttlSeconds ?? DEFAULT_SESSION_TTL_SECONDS;
  const reads = options.readPrisma ?? prisma;
  return {
    async create(sid, tokenHash, now = new Date()) {
      const expiresAt = new Date(Math.floor(now.getTime() / 1000 + ttl) * 1000);
      // Rows past their expiry serve nothing; sign-in is rare enough to tidy them here.
      await prisma.consoleSession.deleteMany({ where: { expiresAt: { lt: now } } });
      await prisma.consoleSession.create({ data: { idHash: idHash(sid), tokenHash, expiresAt } });
      return { sid, tokenHash, expiresAt: expiresAt.getTime() / 1000 };
    },
    async find(sid, now = new Date()) {
      const row = await reads.consoleSession.findUnique({ where: { idHash: idHash(sid) } });
      if (!row || row.endedAt !== null || row.expiresAt <= now) return null;
      return { sid, tokenHash: row.tokenHash, expiresAt: row.expiresAt.getTime() / 1000 };
    },
    async end(sid, now = new Date()) {
      await prisma.consoleSession.updateMany({
        where: { idHash: idHash(sid), endedAt: null },
        data: { endedAt: now },
      });
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
