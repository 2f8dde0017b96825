// Runtime smoke test of the built package: both entry points load and expose the same named exports.
'use strict';
const assert = require('node:assert/strict');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const dist = path.join(__dirname, '..', 'dist');
const cjs = require(path.join(dist, 'index.cjs'));

import(pathToFileURL(path.join(dist, 'index.js')).href)
  .then((esm) => {
    const names = (m) =>
      Object.keys(m)
        .filter((k) => k !== 'default' && k !== 'module.exports')
        .sort();
    assert.deepEqual(names(cjs), names(esm), 'ESM and CJS builds expose different exports');
    for (const name of [
      'createSliceFetcher',
      'sliceFetch',
      'memoryStorage',
      'undiciTransport',
      'SliceFetchError',
      'isSliceFetchError',
      'parseRange',
    ]) {
      assert.equal(typeof cjs[name], 'function', `CJS build lacks ${name}`);
      assert.equal(typeof esm[name], 'function', `ESM build lacks ${name}`);
    }
    // An error made by one copy is recognised by the other (the brand survives two loaded copies).
    const error = new cjs.SliceFetchError('ERR_SLICE_TIMEOUT', 'x');
    assert.equal(esm.isSliceFetchError(error), true);
    assert.equal(error instanceof esm.SliceFetchError, false);
    console.log(`smoke: ${names(esm).length} named exports match in ESM and CJS`);
    return import(pathToFileURL(path.join(dist, 'redis.js')).href).then((redisEsm) => {
      // Within one module system every subpath shares one SliceFetchError: an error thrown by `slice-fetch/redis`
      // is `instanceof` the class from `slice-fetch` (one chunk holds it, not a copy per entry point).
      const redisCjs = require(path.join(dist, 'redis.cjs'));
      for (const [system, root, redis] of [
        ['ESM', esm, redisEsm],
        ['CJS', cjs, redisCjs],
      ]) {
        const thrown = catchError(() => redis.redisStorage({ url: 'http://x' }));
        assert.equal(
          thrown?.code,
          'ERR_SLICE_CONFIG',
          `${system}: redisStorage({ url: 'http://x' }) did not throw`,
        );
        assert.equal(
          thrown instanceof root.SliceFetchError,
          true,
          `${system}: instanceof fails across subpaths`,
        );
      }
      console.log('smoke: errors from slice-fetch/redis are instanceof SliceFetchError from slice-fetch');
    });
  })
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });

function catchError(run) {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

// The root entry must never load optional peers (redis, vitest): importing it must work without them.
const loaded = Object.keys(require.cache).filter((p) =>
  /node_modules[\\/](redis|@redis|vitest)[\\/]/.test(p),
);
assert.deepEqual(loaded, [], 'the root entry loaded an optional peer');
