import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PrismaClient } from '@packages/db';
import { ValidationError } from '../../core/errors.js';
import { noteLocalTokenWrite, type KnownTokenHashes } from './known-tokens.js';

export type ApiRole = 'admin' | 'tenant';

/**
 * One accepted bearer token. Configuration may carry the plain token (convenient for local use)
 * or only its sha256 hash, so a secret store never has to hold the token itself.
 */
export interface TokenEntry {
  token?: string;
  tokenHash?: string;
  role: ApiRole;
  /** Required for tenant tokens: the only tenant the token may read. */
  tenantId?: string;
  name?: string;
}

export interface AuthConfig {
  tokens: TokenEntry[];
  /** When set, `api_tokens` rows (hash only, not revoked) are accepted as well. */
  prisma?: PrismaClient;
  /**
   * The live rows' hashes in memory (watchApiTokens): a token matching none is refused without a
   * database round trip. Without it every unknown token is looked up.
   */
  knownTokens?: KnownTokenHashes;
}

/** Who made a request, as far as authorisation is concerned. */
export interface Principal {
  name: string;
  role: ApiRole;
  tenantId: string | null;
  source: 'config' | 'database';
}

/** Shorter tokens are guessable; generated ones are far longer (see createApiToken). */
export const MIN_TOKEN_LENGTH = 16;
const HASH_PREFIX = 'sha256:';
const HEX_SHA256 = /^[0-9a-f]{64}$/;
const NAME_PATTERN = /^[A-Za-z0-9_.@-]{1,100}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Parses ADMIN_API_TOKENS: comma-separated `name:role[:tenantId]=token` entries, where token may
 * be `sha256:<64 hex>` to configure a hash instead of the secret. Any malformed entry rejects the
 * whole value: a silently dropped token would show up later as a confusing 401.
 *
 *   ADMIN_API_TOKENS="ops:admin=9f2c...e1,acme-app:tenant:acme=sha256:5d41...c2"
 */
export function parseAdminTokens(envValue: string | undefined): TokenEntry[] {
  if (envValue === undefined || envValue.trim() === '') return [];
  const issues: { path: string; message: string }[] = [];
  const entries: TokenEntry[] = [];
  const names = new Set<string>();
  envValue.split(',').forEach((raw, index) => {
    const path = `ADMIN_API_TOKENS[${index}]`;
    const entry = raw.trim();
    if (entry === '') return;
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      issues.push({ path, message: 'expected name:role[:tenantId]=token' });
      return;
    }
    const head = entry
      .slice(0, eq)
      .split(':')
      .map((part) => part.trim());
    const secret = entry.slice(eq + 1).trim();
    const [name, role, tenantId, ...extra] = head;
    // Never echo the secret part: these messages end up in logs.
    if (!name || !NAME_PATTERN.test(name)) {
      issues.push({ path, message: `name must match ${NAME_PATTERN}` });
      return;
    }
    if (names.has(name)) {
      issues.push({ path, message: `duplicate token name "${name}"` });
      return;
    }
    if (role !== 'admin' && role !== 'tenant') {
      issues.push({ path, message: `token "${name}": role must be "admin" or "tenant"` });
      return;
    }
    if (extra.length > 0) {
      issues.push({ path, message: `token "${name}": too many ":"-separated parts` });
      return;
    }
    if (role === 'tenant' && !tenantId) {
      issues.push({
        path,
        message: `token "${name}": tenant tokens need a tenant id (name:tenant:tenantId=token)`,
      });
      return;
    }
    if (role === 'admin' && tenantId) {
      issues.push({ path, message: `token "${name}": admin tokens are not bound to a tenant` });
      return;
    }
    const base: TokenEntry = { name, role, ...(tenantId ? { tenantId } : {}) };
    if (secret.toLowerCase().startsWith(HASH_PREFIX)) {
      const hash = secret.slice(HASH_PREFIX.length).toLowerCase();
      if (!HEX_SHA256.test(hash)) {
        issues.push({ path, message: `token "${name}": sha256: must be followed by 64 hex characters` });
        return;
      }
      entries.push({ ...base, tokenHash: hash });
    } else {
      if (secret.length < MIN_TOKEN_LENGTH || /\s/.test(secret)) {
        issues.push({
          path,
          message: `token "${name}": token must be at least ${MIN_TOKEN_LENGTH} characters without whitespace`,
        });
        return;
      }
      entries.push({ ...base, token: secret });
    }
    names.add(name);
  });
  if (issues.length > 0) {
    throw new ValidationError(
      `Invalid ADMIN_API_TOKENS: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return entries;
}

export interface CreatedApiToken {
  id: string;
  name: string;
  role: ApiRole;
  tenantId: string | null;
  /** Shown once; only its hash is stored. */
  token: string;
}

/** Creates a database token and returns the plain token; it cannot be recovered afterwards. */
export async function createApiToken(
  prisma: PrismaClient,
  input: { name: string; role: ApiRole; tenantId?: string | null },
): Promise<CreatedApiToken> {
  if (!NAME_PATTERN.test(input.name)) {
    throw new ValidationError(`Invalid token name`, [
      { path: 'name', message: `must match ${NAME_PATTERN}` },
    ]);
  }
  if (input.role !== 'admin' && input.role !== 'tenant') {
    throw new ValidationError('Invalid token role', [
      { path: 'role', message: 'must be "admin" or "tenant"' },
    ]);
  }
  const tenantId = input.tenantId ?? null;
  if (input.role === 'tenant' && !tenantId) {
    throw new ValidationError('Tenant tokens need a tenantId', [
      { path: 'tenantId', message: 'required for role "tenant"' },
    ]);
  }
  if (input.role === 'admin' && tenantId) {
    throw new ValidationError('Admin tokens are not bound to a tenant', [
      { path: 'tenantId', message: 'must be empty for role "admin"' },
    ]);
  }
  // The prefix makes leaked tokens recognisable to secret scanners and humans.
  const token = `ent_${input.role}_${randomBytes(32).toString('base64url')}`;
  const row = await prisma.apiToken.create({
    data: { name: input.name, role: input.role, tenantId, tokenHash: hashToken(token) },
  });
  noteLocalTokenWrite();
  return { id: row.id, name: row.name, role: input.role, tenantId, token };
}

export async function revokeApiToken(prisma: PrismaClient, id: string): Promise<boolean> {
  const { count } = await prisma.apiToken.updateMany({
    where: { id, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  noteLocalTokenWrite();
  return count === 1;
}

/** The token from an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/**
 * Resolves a presented token to a principal, or null when it matches nothing. Configured entries
 * are compared by hash with timingSafeEqual and all of them are checked, so neither the content
 * nor the position of a valid token leaks through response time.
 */
export async function authenticateToken(
  config: AuthConfig | undefined,
  token: string | null,
): Promise<Principal | null> {
  if (!config || token === null || token === '') return null;
  return authenticateTokenHash(config, hashToken(token));
}

/**
 * The same check from the token's sha256 (hex): the console keeps only the hash in its session
 * cookie and re-checks it on every request, so a revoked token ends its sessions at once.
 */
export async function authenticateTokenHash(
  config: AuthConfig | undefined,
  tokenHashHex: string,
): Promise<Principal | null> {
  if (!config || !HEX_SHA256.test(tokenHashHex)) return null;
  const presented = Buffer.from(tokenHashHex, 'hex');
  let found: Principal | null = null;
  for (const [index, entry] of config.tokens.entries()) {
    const expected = expectedHashOf(entry);
    if (expected === null) continue;
    if (timingSafeEqual(presented, expected) && found === null) {
      found = {
        name: entry.name ?? `config-token-${index}`,
        role: entry.role,
        tenantId: entry.tenantId ?? null,
        source: 'config',
      };
    }
  }
  if (found) return validPrincipal(found);
  if (!config.prisma) return null;
  if (!(await mayBeStored(config.knownTokens, presented.toString('hex')))) return null;
  // Looking the row up by hash is safe: knowing which hashes exist does not help forge a token.
  const row = await config.prisma.apiToken.findUnique({ where: { tokenHash: presented.toString('hex') } });
  if (!row || row.revokedAt !== null) return null;
  if (!timingSafeEqual(presented, Buffer.from(row.tokenHash, 'hex'))) return null;
  if (row.role !== 'admin' && row.role !== 'tenant') return null;
  return validPrincipal({ name: row.name, role: row.role, tenantId: row.tenantId, source: 'database' });
}

/**
 * A configured token's sha256, worked out once per entry rather than on every request (an entry
 * given as a plain token was hashed per request and per entry). Keyed by the entry and what it
 * holds, so an entry changed in place is hashed again.
 */
const entryHashes = new WeakMap<TokenEntry, { of: string | undefined; hash: Buffer | null }>();

function expectedHashOf(entry: TokenEntry): Buffer | null {
  const of = entry.tokenHash ?? entry.token;
  const kept = entryHashes.get(entry);
  if (kept && kept.of === of) return kept.hash;
  const hex = entry.tokenHash?.toLowerCase() ?? (entry.token !== undefined ? hashToken(entry.token) : null);
  const hash = hex !== null && HEX_SHA256.test(hex) ? Buffer.from(hex, 'hex') : null;
  entryHashes.set(entry, { of, hash });
  return hash;
}

/** False only when the in-memory set proves no live row has this hash (no database round trip then). */
async function mayBeStored(known: KnownTokenHashes | undefined, hashHex: string): Promise<boolean> {
  if (!known) return true;
  if (known.has(hashHex) === true) return true;
  // A token this process just created: re-read once (an outsider cannot cause this wait).
  if (known.staleForLocalWrites()) await known.refresh();
  return known.has(hashHex) !== false;
}

/** A tenant principal without a tenant would be able to read nothing, or worse, everything. */
function validPrincipal(principal: Principal): Principal | null {
  if (principal.role === 'tenant' && !principal.tenantId) return null;
  return principal;
}

/** Whether `principal` may read tenant `tenantId`'s features. */
export function canReadTenant(principal: Principal, tenantId: string): boolean {
  return principal.role === 'admin' || principal.tenantId === tenantId;
}
