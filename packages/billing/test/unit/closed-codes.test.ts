import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BILLING_ERROR_CODES,
  HTTP_ERROR_CODES,
  RECONCILE_SKIP_REASONS,
  SYNC_SKIP_REASONS,
  type ReconcileSkipReason,
} from '../../src/index.js';

/** The docs' tables of error codes and skip reasons say exactly what the exported lists hold. */

const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/** Every markdown table of a document: its header cells and its rows' cells. */
function tables(markdown: string): { header: string[]; rows: string[][] }[] {
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
  const found: { header: string[]; rows: string[][] }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i]!.trim().startsWith('|') || !/^\|\s*-{3}/.test(lines[i + 1]!.trim())) continue;
    const rows: string[][] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j]!.trim().startsWith('|'); j++) rows.push(cells(lines[j]!));
    found.push({ header: cells(lines[i]!), rows });
    i = j;
  }
  return found;
}

/** The backticked codes of one column (what a "(…)" aside names, or a `field: value`, is not a code). */
function codesIn(table: { header: string[]; rows: string[][] }, column: number): string[] {
  return table.rows.flatMap((row) =>
    [...(row[column] ?? '').replace(/\([^)]*\)/g, '').matchAll(/`([a-z_*]+)`/g)].map((m) => m[1]!),
  );
}

function codeColumn(table: { header: string[] }): number {
  return table.header.findIndex((h) => h === '`code`' || h === '`error.code`');
}

const documentedErrorCodes = () =>
  ['admin-api.md', 'integration.md'].flatMap((name) =>
    tables(doc(name))
      .filter((t) => codeColumn(t) >= 0)
      .flatMap((t) => codesIn(t, codeColumn(t))),
  );

const matches = (documented: string, code: string) =>
  documented.endsWith('*') ? code.startsWith(documented.slice(0, -1)) : documented === code;

describe('error codes: docs/admin-api.md and docs/integration.md against HTTP_ERROR_CODES', () => {
  it('every documented code exists', () => {
    const documented = documentedErrorCodes();
    expect(documented.length).toBeGreaterThan(30);
    const unknown = documented.filter((d) => !HTTP_ERROR_CODES.some((code) => matches(d, code)));
    expect(unknown).toEqual([]);
  });

  it('every code is documented', () => {
    const documented = documentedErrorCodes();
    const undocumented = HTTP_ERROR_CODES.filter((code) => !documented.some((d) => matches(d, code)));
    expect(undocumented).toEqual([]);
  });

  it('the BillingError codes are among them, each once', () => {
    expect(new Set(HTTP_ERROR_CODES).size).toBe(HTTP_ERROR_CODES.length);
    expect(HTTP_ERROR_CODES).toEqual(expect.arrayContaining([...BILLING_ERROR_CODES]));
  });
});

describe('skip reasons: docs/cli.md against SYNC_SKIP_REASONS and RECONCILE_SKIP_REASONS', () => {
  const skipTables = tables(doc('cli.md')).filter((t) => t.header[0] === 'Skip reason');

  it('the migration (bulk sync) table lists SYNC_SKIP_REASONS, in order', () => {
    expect(codesIn(skipTables[0]!, 0)).toEqual([...SYNC_SKIP_REASONS]);
  });

  it('the reconcile table lists RECONCILE_SKIP_REASONS, in order', () => {
    expect(skipTables).toHaveLength(2);
    expect(codesIn(skipTables[1]!, 0)).toEqual([...RECONCILE_SKIP_REASONS]);
  });

  it('a switch over a reason can be exhaustive (the type check rejects an unknown one)', () => {
    const describe = (reason: ReconcileSkipReason): string => {
      switch (reason) {
        case 'unlinked':
        case 'no_tenant':
        case 'customer_mismatch':
        case 'duplicate_customer':
        case 'plan_for_other_tenant':
          return reason;
        default: {
          const unknown: never = reason;
          return unknown;
        }
      }
    };
    expect(RECONCILE_SKIP_REASONS.map(describe)).toEqual([...RECONCILE_SKIP_REASONS]);
  });
});
