import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_UPSERT_COLUMNS } from '../../src/io/tenant-store/config-upsert.js';

/**
 * The one column list both config upserts overwrite (ticketed write, batched sync write) is every
 * column of tenant_feature_configs in the Prisma model except the key and the creation time;
 * `read_ticket`, outside the model, each upsert sets by its own rule.
 */
const schema = readFileSync(new URL('../../../db/prisma/schema.prisma', import.meta.url), 'utf8');
const model = /^model TenantFeatureConfig \{\n([\s\S]*?)\n\}/m.exec(schema)?.[1] ?? '';
/** Scalar fields as their column names (`@map`, or the field name); relations and comments left out. */
const columns = model
  .split('\n')
  .map((line) => /^\s+(\w+)\s+(\w+)(\??)(.*)$/.exec(line))
  .filter((m) => m !== null && !m[4]!.includes('@relation'))
  .map((m) => /@map\("(\w+)"\)/.exec(m![4]!)?.[1] ?? m![1]!);

describe('CONFIG_UPSERT_COLUMNS', () => {
  it('is every column of the model but tenant_id and created_at', () => {
    expect(columns).toContain('tenant_id');
    expect([...CONFIG_UPSERT_COLUMNS].sort()).toEqual(
      columns.filter((c) => c !== 'tenant_id' && c !== 'created_at').sort(),
    );
  });
});
