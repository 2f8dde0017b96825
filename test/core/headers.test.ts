import { describe, expect, it } from 'vitest';
import { connectionTokens, HOP_BY_HOP, headerValue, singleHeader } from '../../src/core/headers.js';

describe('header helpers', () => {
  it('reports a header that must occur once as absent, present or duplicated', () => {
    expect(singleHeader({}, 'etag')).toEqual({ state: 'absent' });
    expect(singleHeader({ etag: [] }, 'etag')).toEqual({ state: 'absent' });
    expect(singleHeader({ etag: ['"a"'] }, 'etag')).toEqual({ state: 'present', value: '"a"' });
    expect(singleHeader({ etag: ['"a"', '"b"'] }, 'etag')).toEqual({
      state: 'duplicated',
      values: ['"a"', '"b"'],
    });
  });

  it('joins repeated values with a comma (RFC 9110 §5.3)', () => {
    expect(headerValue({ vary: ['accept', 'origin'] }, 'vary')).toBe('accept, origin');
    expect(headerValue({ vary: [] }, 'vary')).toBeUndefined();
  });

  it('lists the names a Connection field makes hop-by-hop, lower-cased and trimmed', () => {
    expect([...connectionTokens('close, X-Debug ,,')]).toEqual(['close', 'x-debug']);
    expect([...connectionTokens(['a', 'B'])]).toEqual(['a', 'b']);
    expect(connectionTokens(undefined).size).toBe(0);
  });

  it('knows the hop-by-hop fields of RFC 9110 §7.6.1', () => {
    for (const name of ['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']) {
      expect(HOP_BY_HOP.has(name)).toBe(true);
    }
    expect(HOP_BY_HOP.has('content-type')).toBe(false);
  });
});
