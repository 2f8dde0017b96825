import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { credentialScope, parseVary, variantScope } from '../../src/core/scope.js';

describe('credentialScope', () => {
  it('is shared without credentials, or when credentials are declared shareable', () => {
    expect(credentialScope({ 'user-agent': 'x' }, false)).toBe('');
    expect(credentialScope({ authorization: 'Bearer a' }, true)).toBe('');
  });

  it('gives each Authorization/Cookie combination its own scope, and never contains the credential', () => {
    const a = credentialScope({ authorization: 'Bearer a' }, false);
    expect(a).toMatch(/^cred:[0-9a-f]{32}$/);
    expect(credentialScope({ authorization: 'Bearer b' }, false)).not.toBe(a);
    expect(credentialScope({ cookie: 'Bearer a' }, false)).not.toBe(a);
    expect(credentialScope({ authorization: 'Bearer a', cookie: '' }, false)).not.toBe(a);
    expect(credentialScope({ authorization: 'Bearer a' }, false)).toBe(a);
  });

  it('never puts two different credential pairs in one scope', () => {
    const value = fc.option(fc.string({ maxLength: 12 }), { nil: undefined });
    fc.assert(
      fc.property(value, value, value, value, (a1, c1, a2, c2) => {
        fc.pre(a1 !== a2 || c1 !== c2);
        const scope = (authorization?: string, cookie?: string) => {
          const headers: Record<string, string> = {};
          if (authorization !== undefined) headers.authorization = authorization;
          if (cookie !== undefined) headers.cookie = cookie;
          return credentialScope(headers, false);
        };
        expect(scope(a1, c1)).not.toBe(scope(a2, c2));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parseVary', () => {
  it('lower-cases, sorts and de-duplicates the names, and spots *', () => {
    expect(parseVary('Accept-Language, accept-encoding,ACCEPT-LANGUAGE')).toEqual([
      'accept-encoding',
      'accept-language',
    ]);
    expect(parseVary('accept, *')).toBe('*');
    expect(parseVary(' , ')).toEqual([]);
    expect(parseVary(undefined)).toEqual([]);
  });
});

describe('variantScope', () => {
  it('adds nothing when the response does not vary', () => {
    expect(variantScope('cred:1', [], { 'accept-language': 'fr' }, 'r')).toBe('cred:1');
  });

  it('separates the values of the named headers, absent from empty, and ignores other headers', () => {
    const names = ['accept-language'];
    const en = variantScope('', names, { 'accept-language': 'en' }, 'r1');
    expect(variantScope('', names, { 'accept-language': 'fr' }, 'r2')).not.toBe(en);
    expect(variantScope('', names, { 'accept-language': 'en', 'user-agent': 'x' }, 'r3')).toBe(en);
    expect(variantScope('', names, {}, 'r4')).not.toBe(
      variantScope('', names, { 'accept-language': '' }, 'r4'),
    );
    expect(variantScope('cred:1', names, { 'accept-language': 'en' }, 'r5')).not.toBe(en);
  });

  it('never shares a Vary: * answer', () => {
    expect(variantScope('', '*', {}, 'r1')).not.toBe(variantScope('', '*', {}, 'r2'));
  });
});
