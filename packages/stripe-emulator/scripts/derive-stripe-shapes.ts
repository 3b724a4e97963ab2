/**
 * Derives test/fixtures/stripe-shapes.json: for each object type the emulator returns, the field
 * names Stripe defines, each with its type and whether it can be null. Nothing else of Stripe's
 * definitions is kept.
 *
 * Source: the object definitions Stripe publishes in the `stripe` package (v23, generated from
 * Stripe's OpenAPI spec for API version 2026-10-28.endive; see node_modules/stripe/OPENAPI_VERSION).
 * Run from the repo root after upgrading `stripe`:
 *   npx tsx packages/stripe-emulator/scripts/derive-stripe-shapes.ts
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Object types the emulator serves, by their qualified name in Stripe's definitions. */
const ROOTS = [
  'Product',
  'DeletedProduct',
  'Price',
  'Customer',
  'DeletedCustomer',
  'Subscription',
  'SubscriptionItem',
  'Invoice',
  'InvoiceLineItem',
  'Checkout.Session',
  'LineItem',
  'EventBase',
  'Plan',
  'Entitlements.Feature',
  'Entitlements.ActiveEntitlement',
  'Entitlements.ActiveEntitlementSummary',
  'ProductFeature',
  'DeletedProductFeature',
  'BillingPortal.Session',
  'Billing.Meter',
  'Billing.MeterEvent',
  'Billing.MeterEventSummary',
];
/** Nested types are followed this deep below a root; the emulator leaves deeper objects null. */
const MAX_DEPTH = 4;

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// `stripe` exports no package.json; walk up from its entry point to the package folder.
let stripeDir = path.dirname(require.resolve('stripe'));
while (!readdirSync(stripeDir).includes('OPENAPI_VERSION')) stripeDir = path.dirname(stripeDir);
const resourcesDir = path.join(stripeDir, 'esm', 'resources');

interface Field {
  /** The field's type as written in the definition, references qualified. */
  type: string;
  nullable: boolean;
  optional: boolean;
  /** Qualified names of the object types this field can hold. */
  refs: string[];
}

const interfaces = new Map<string, { file: string; scope: string[]; node: ts.InterfaceDeclaration }>();
/** Type aliases (`type Status = 'active' | ...`), read through to what they stand for. */
const aliases = new Map<string, { scope: string[]; node: ts.TypeAliasDeclaration }>();

function collect(file: string, prefix: string[]): void {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node, scope: string[]) => {
    if (ts.isInterfaceDeclaration(node)) {
      interfaces.set([...scope, node.name.text].join('.'), { file, scope, node });
    } else if (ts.isTypeAliasDeclaration(node)) {
      aliases.set([...scope, node.name.text].join('.'), { scope, node });
    } else if (ts.isModuleDeclaration(node) && node.body && ts.isModuleBlock(node.body)) {
      // A namespace named like the folder (`Entitlements` in Entitlements/*.d.ts) adds no level.
      const name = node.name.text;
      const next = scope.at(-1) === name ? scope : [...scope, name];
      node.body.statements.forEach((s) => visit(s, next));
    }
  };
  source.statements.forEach((s) => visit(s, prefix));
}

for (const entry of readdirSync(resourcesDir, { withFileTypes: true })) {
  if (entry.isFile() && entry.name.endsWith('.d.ts')) collect(path.join(resourcesDir, entry.name), []);
  if (entry.isDirectory()) {
    for (const f of readdirSync(path.join(resourcesDir, entry.name)))
      if (f.endsWith('.d.ts') && f !== 'index.d.ts')
        collect(path.join(resourcesDir, entry.name, f), [entry.name]);
  }
}

/** A reference as written (`InvoiceSettings.Issuer`) → qualified name, trying the enclosing scopes first. */
function resolve(
  name: string,
  scope: string[],
  owner: string,
  table: Map<string, unknown> = interfaces,
): string | null {
  const base = name.replace(/^Stripe\./, '');
  const scopes = [owner.split('.'), scope];
  for (const s of scopes) {
    for (let i = s.length; i >= 0; i--) {
      const candidate = [...s.slice(0, i), base].join('.');
      if (table.has(candidate)) return candidate;
    }
  }
  return table.has(base) ? base : null;
}

function describe(typeNode: ts.TypeNode, scope: string[], owner: string, refs: Set<string>): string {
  if (ts.isUnionTypeNode(typeNode))
    return typeNode.types.map((t) => describe(t, scope, owner, refs)).join(' | ');
  if (ts.isLiteralTypeNode(typeNode)) {
    if (typeNode.literal.kind === ts.SyntaxKind.NullKeyword) return 'null';
    if (ts.isStringLiteral(typeNode.literal) || ts.isNoSubstitutionTemplateLiteral(typeNode.literal))
      return 'string';
    if (
      typeNode.literal.kind === ts.SyntaxKind.TrueKeyword ||
      typeNode.literal.kind === ts.SyntaxKind.FalseKeyword
    )
      return 'boolean';
    return 'number';
  }
  if (ts.isArrayTypeNode(typeNode)) return `Array<${describe(typeNode.elementType, scope, owner, refs)}>`;
  if (ts.isTypeReferenceNode(typeNode)) {
    const name = typeNode.typeName.getText();
    const args = typeNode.typeArguments?.map((a) => describe(a, scope, owner, refs));
    if (name === 'Array' || name === 'ApiList') return `${name}<${args?.join(', ') ?? ''}>`;
    if (name === 'Metadata' || name === 'Record') return 'map';
    if (name === 'Decimal' || name === 'OtherString') return 'string';
    const qualified = resolve(name, scope, owner);
    if (!qualified) {
      const alias = resolve(name, scope, owner, aliases);
      if (!alias) return 'opaque';
      const { scope: aliasScope, node } = aliases.get(alias)!;
      const described = describe(node.type, aliasScope, alias, refs).split(' | ');
      return [...new Set(described)].join(' | ');
    }
    refs.add(qualified);
    return qualified;
  }
  switch (typeNode.kind) {
    case ts.SyntaxKind.StringKeyword:
      return 'string';
    case ts.SyntaxKind.NumberKeyword:
      return 'number';
    case ts.SyntaxKind.BooleanKeyword:
      return 'boolean';
    case ts.SyntaxKind.NullKeyword:
      return 'null';
    case ts.SyntaxKind.VoidKeyword:
      return 'void';
    default:
      return 'opaque';
  }
}

function fieldsOf(name: string): Record<string, Field> {
  const { scope, node } = interfaces.get(name)!;
  const out: Record<string, Field> = {};
  for (const member of node.members) {
    if (!ts.isPropertySignature(member) || !member.type) continue;
    const refs = new Set<string>();
    const type = describe(member.type, scope, name, refs);
    const alternatives = type.split(' | ');
    // `deleted?: void` marks the live twin of a Deleted* type: never present, so not a field.
    if (type === 'void') continue;
    out[member.name.getText()] = {
      type: alternatives.filter((a) => a !== 'null').join(' | '),
      nullable: alternatives.includes('null'),
      optional: member.questionToken !== undefined,
      refs: [...refs],
    };
  }
  return out;
}

const types: Record<string, Record<string, Field>> = {};
const objects: Record<string, string> = {};
const queue: Array<[string, number]> = ROOTS.map((r) => [r, 0]);
while (queue.length > 0) {
  const [name, depth] = queue.shift()!;
  if (types[name] || !interfaces.has(name)) continue;
  const fields = fieldsOf(name);
  types[name] = fields;
  const objectField = interfaces
    .get(name)!
    .node.members.find((m) => ts.isPropertySignature(m) && m.name.getText() === 'object');
  const literal =
    objectField &&
    ts.isPropertySignature(objectField) &&
    objectField.type &&
    ts.isLiteralTypeNode(objectField.type)
      ? (objectField.type.literal as ts.StringLiteral).text
      : null;
  if (literal && ROOTS.includes(name)) objects[fields.deleted ? `${literal}:deleted` : literal] = name;
  if (depth >= MAX_DEPTH) continue;
  for (const field of Object.values(fields))
    for (const ref of field.refs) {
      // Nested shapes (Subscription.InvoiceSettings) are followed; other top-level objects only as roots.
      if (ROOTS.includes(ref) || ref.startsWith(`${name}.`) || ref.split('.')[0] === name.split('.')[0])
        queue.push([ref, depth + 1]);
    }
}

const compact = Object.fromEntries(
  Object.entries(types)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, fields]) => [
      name,
      Object.fromEntries(
        Object.entries(fields).map(([field, f]) => [
          field,
          `${f.optional ? '?' : ''}${f.type}${f.nullable ? ' | null' : ''}`,
        ]),
      ),
    ]),
);
const stripeVersion = JSON.parse(readFileSync(path.join(stripeDir, 'package.json'), 'utf8'))
  .version as string;
const openapiVersion = readFileSync(path.join(stripeDir, 'OPENAPI_VERSION'), 'utf8').trim();
const out = {
  source: `stripe-node ${stripeVersion} type definitions (Stripe OpenAPI ${openapiVersion}), derived by scripts/derive-stripe-shapes.ts`,
  apiVersion: '2026-10-28.endive',
  objects,
  types: compact,
};
const target = path.join(here, '..', 'test', 'fixtures', 'stripe-shapes.json');
writeFileSync(target, `${JSON.stringify(out, null, 1)}\n`);
console.log(`wrote ${Object.keys(compact).length} types to ${path.relative(process.cwd(), target)}`);
