import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.js';
import { authenticateToken, bearerToken, hashToken, parseAdminTokens } from '../src/io/http/auth.js';

const TOKEN = 'correct-horse-battery-staple-42';

describe('parseAdminTokens', () => {
  it('parses admin, tenant and hashed entries', () => {
    const hash = hashToken('tenant-secret-value-123456');
    expect(
      parseAdminTokens(` ops:admin=${TOKEN}, acme-app:tenant:acme=sha256:${hash.toUpperCase()} `),
    ).toEqual([
      { name: 'ops', role: 'admin', token: TOKEN },
      { name: 'acme-app', role: 'tenant', tenantId: 'acme', tokenHash: hash },
    ]);
  });

  it('empty or unset → no tokens', () => {
    expect(parseAdminTokens(undefined)).toEqual([]);
    expect(parseAdminTokens('  ')).toEqual([]);
  });

  it('keeps "=" inside the token', () => {
    expect(parseAdminTokens('ops:admin=abc=def=ghi=jkl=mnop')[0]?.token).toBe('abc=def=ghi=jkl=mnop');
  });

  it.each([
    ['no secret', 'ops:admin'],
    ['unknown role', `ops:root=${TOKEN}`],
    ['tenant token without tenant', `app:tenant=${TOKEN}`],
    ['admin token with tenant', `ops:admin:acme=${TOKEN}`],
    ['short token', 'ops:admin=short'],
    ['bad hash', 'ops:admin=sha256:xyz'],
    ['duplicate names', `ops:admin=${TOKEN},ops:admin=${TOKEN}x`],
    ['bad name', `o p:admin=${TOKEN}`],
    ['too many parts', `ops:tenant:a:b=${TOKEN}`],
  ])('rejects %s', (_name, value) => {
    expect(() => parseAdminTokens(value)).toThrow(ValidationError);
  });

  it('never echoes the secret in errors', () => {
    try {
      parseAdminTokens('ops:root=super-secret-token-value');
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('super-secret-token-value');
    }
  });
});

describe('authenticateToken', () => {
  const config = {
    tokens: parseAdminTokens(
      `ops:admin=${TOKEN},app:tenant:acme=sha256:${hashToken('tenant-secret-value-123456')}`,
    ),
  };

  it('resolves plain and hashed entries', async () => {
    expect(await authenticateToken(config, TOKEN)).toEqual({
      name: 'ops',
      role: 'admin',
      tenantId: null,
      source: 'config',
    });
    expect(await authenticateToken(config, 'tenant-secret-value-123456')).toMatchObject({
      role: 'tenant',
      tenantId: 'acme',
    });
  });

  it('rejects unknown, empty and near-miss tokens', async () => {
    expect(await authenticateToken(config, `${TOKEN}x`)).toBeNull();
    expect(await authenticateToken(config, '')).toBeNull();
    expect(await authenticateToken(config, null)).toBeNull();
    expect(await authenticateToken(undefined, TOKEN)).toBeNull();
  });

  it('extracts bearer tokens only', () => {
    expect(bearerToken(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken(`bearer   ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken(`Basic ${TOKEN}`)).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
});
