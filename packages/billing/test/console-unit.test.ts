import { describe, expect, it } from 'vitest';
import { DEFAULT_FEATURE_CATALOG } from '../src/io/catalog/index.js';
import { explainFeatures } from '../src/core/index.js';
import { diffSnapshots } from '../src/entry/console/diff.js';
import { parseFeatureLines, parseFormBody } from '../src/entry/console/form.js';
import { html, raw } from '../src/entry/console/html.js';
import {
  metadataChanges,
  metadataDigest,
  metadataLines,
  parseMetadataLines,
} from '../src/entry/console/metadata-edit.js';
import { createSessionKeys } from '../src/entry/console/session.js';
import { ValidationError } from '../src/core/errors.js';

describe('html template', () => {
  it('escapes every interpolated value unless it is already Html', () => {
    const name = `<img src=x onerror="alert('x')">&`;
    expect(html`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;">&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;</p>',
    );
    // (Prettier formats html`` templates as HTML, hence the whitespace normalisation.)
    expect(
      html`<ul>
        ${['<a>', html`<li>ok</li>`]}
      </ul>`.value.replace(/\s+/g, ''),
    ).toBe('<ul>&lt;a&gt;<li>ok</li></ul>');
    expect(html`${null}${undefined}${false}${0}${raw('<br>')}`.value).toBe('0<br>');
  });
});

describe('console session keys', () => {
  const keys = createSessionKeys('s'.repeat(32));

  it('reads back the session id it issued; the cookie holds nothing else', () => {
    const { sid, cookieValue } = keys.issue();
    expect(keys.sidOf(cookieValue)).toBe(sid);
    expect(cookieValue.split('.')).toHaveLength(2);
    expect(cookieValue.split('.')[0]).toBe(sid);
    expect(keys.issue().sid).not.toBe(sid);
  });

  it('rejects a cookie signed with another secret or altered', () => {
    const { cookieValue } = keys.issue();
    expect(createSessionKeys('t'.repeat(32)).sidOf(cookieValue)).toBeNull();
    // Any other spelling of the signature, even one that decodes to the same bytes, is refused.
    for (const at of [cookieValue.length - 1, cookieValue.length - 10, 3]) {
      const c = cookieValue[at]!;
      const altered = cookieValue.slice(0, at) + (c === 'A' ? 'B' : 'A') + cookieValue.slice(at + 1);
      expect(keys.sidOf(altered)).toBeNull();
    }
    expect(keys.sidOf('garbage')).toBeNull();
    expect(keys.sidOf(undefined)).toBeNull();
  });

  it('ties the CSRF token to the session', () => {
    const a = keys.issue().sid;
    const b = keys.issue().sid;
    expect(keys.csrfValid(a, keys.csrfToken(a))).toBe(true);
    expect(keys.csrfValid(a, keys.csrfToken(b))).toBe(false);
    expect(keys.csrfValid(a, '')).toBe(false);
    expect(keys.csrfValid(a, ['x'])).toBe(false);
  });

  it('seals values (flash messages) so only this secret opens them, unaltered', () => {
    const sealed = keys.seal('{"kind":"ok","text":"Saved"}');
    expect(keys.opened(sealed)).toBe('{"kind":"ok","text":"Saved"}');
    expect(createSessionKeys('t'.repeat(32)).opened(sealed)).toBeNull();
    const forged = `${Buffer.from('{"kind":"ok","text":"Call +1 555"}').toString('base64url')}.${sealed.split('.')[1]}`;
    expect(keys.opened(forged)).toBeNull();
    expect(keys.opened(Buffer.from('{"text":"x"}').toString('base64url'))).toBeNull();
  });

  it('refuses a short secret', () => {
    expect(() => createSessionKeys('short')).toThrow(/at least 32/);
  });
});

describe('diffSnapshots', () => {
  it('lists changed leaves as dotted paths', () => {
    expect(
      diffSnapshots(
        { features: { sso: true, max_users: 10 }, bundle: 'pro', accessActive: true },
        { features: { max_users: 50, api_access: true }, bundle: 'pro', accessActive: false },
      ),
    ).toEqual([
      { path: 'accessActive', kind: 'changed', before: true, after: false },
      { path: 'features.api_access', kind: 'added', before: undefined, after: true },
      { path: 'features.max_users', kind: 'changed', before: 10, after: 50 },
      { path: 'features.sso', kind: 'removed', before: true, after: undefined },
    ]);
  });

  it('shows a first snapshot field by field', () => {
    expect(diffSnapshots(null, { bundle: 'pro', features: { sso: true } }).map((l) => l.path)).toEqual([
      'bundle',
      'features.sso',
    ]);
  });
});

describe('explainFeatures', () => {
  const input = {
    features: { max_users: 50, sso: true, api_access: true, webhooks: true },
    planFeatures: { max_users: 30, sso: true, api_access: true },
    overrides: { max_users: 50 },
    accessActive: true,
    productFeatures: { max_users: 25, sso: true },
  };

  it('tells override, product, price and leftovers apart', () => {
    const origins = Object.fromEntries(
      explainFeatures(input, DEFAULT_FEATURE_CATALOG).map((r) => [r.key, r.origin]),
    );
    expect(origins).toEqual({ max_users: 'override', sso: 'plan', api_access: 'price', webhooks: 'kept' });
  });

  it('marks every value restricted without access and keeps the configured value', () => {
    const rows = explainFeatures(
      {
        ...input,
        accessActive: false,
        features: { max_users: 0, sso: false, api_access: false, webhooks: false },
      },
      DEFAULT_FEATURE_CATALOG,
    );
    const maxUsers = rows.find((r) => r.key === 'max_users')!;
    expect(maxUsers).toMatchObject({ effective: 0, configured: 50, restrictedByAccess: true });
  });

  it('does not tell plan from price when the product could not be read', () => {
    const rows = explainFeatures({ ...input, productFeatures: null }, DEFAULT_FEATURE_CATALOG);
    expect(rows.find((r) => r.key === 'api_access')!.origin).toBe('plan');
  });
});

describe('form parsing', () => {
  it('keeps repeated fields as a list', () => {
    expect(parseFormBody('a=1&b=x+y&a=2')).toEqual({ a: ['1', '2'], b: 'x y' });
  });

  it('reads feature lines and refuses what is not a feature value', () => {
    expect(parseFeatureLines('max_users=250\n\nsso = true\nwebhooks=off')).toEqual({
      max_users: 250,
      sso: true,
      webhooks: false,
    });
    expect(() => parseFeatureLines('max_users')).toThrow(ValidationError);
    expect(() => parseFeatureLines('sso=maybe')).toThrow(ValidationError);
  });
});

describe('plan metadata edits', () => {
  it('reads key=value lines (the value is everything after the first =) and refuses others', () => {
    expect(parseMetadataLines('bundle=pro\n\n featuresJson = {"a":1,"b":"x=y"} \r\nempty=')).toEqual({
      bundle: 'pro',
      featuresJson: '{"a":1,"b":"x=y"}',
      empty: '',
    });
    expect(() => parseMetadataLines('bundle=pro\nno equals')).toThrow(/Line 2 of the metadata/);
    expect(() => parseMetadataLines('=x')).toThrow(ValidationError);
    expect(() => parseMetadataLines('a=1\na=2')).toThrow(/"a" is given twice/);
  });

  it('sends Stripe only the difference: changed and new keys, removed keys as ""', () => {
    const current = { bundle: 'pro', features: 'sso', note: 'x' };
    expect(metadataChanges(current, { bundle: 'pro', features: 'sso,api', extra: '1' })).toEqual({
      features: 'sso,api',
      extra: '1',
      note: '',
    });
    // An emptied key is removed; an empty key the object lacks is no change.
    expect(metadataChanges(current, { ...current, note: '', absent: '' })).toEqual({ note: '' });
    expect(metadataChanges(current, { ...current })).toEqual({});
  });

  it('round-trips the edit form and tells metadata apart by digest, whatever the key order', () => {
    const metadata = { b: '2', a: '1=1' };
    expect(metadataLines(metadata)).toBe('a=1=1\nb=2');
    expect(parseMetadataLines(metadataLines(metadata))).toEqual(metadata);
    expect(metadataDigest({ a: '1=1', b: '2' })).toBe(metadataDigest(metadata));
    expect(metadataDigest({ a: '1', b: '2' })).not.toBe(metadataDigest(metadata));
  });
});
