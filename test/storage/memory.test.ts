import { memoryStorage } from '../../src/storage/memory.js';
import { runCacheStorageConformance } from '../../src/testing/conformance.js';

runCacheStorageConformance('memoryStorage', ({ maxBytes, now }) => ({
  store: memoryStorage({ maxBytes, now }),
}));
