import { mapStorage } from '../../examples/custom-store.js';
import { runCacheStorageConformance } from '../../src/testing/conformance.js';

// The custom-store example passes the same suite as the shipped stores.
runCacheStorageConformance('examples/custom-store mapStorage', ({ maxBytes, now }) => ({
  store: mapStorage(maxBytes, now),
}));
