/**
 * @module Small pieces the engine's unit tests share: a promise with its settlers exposed, one macrotask turn,
 * a promise observed without an unhandled rejection, and the abort listeners a signal holds.
 */
import { getEventListeners } from 'node:events';

/** A promise with its resolve and reject exposed. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise reaction run (one macrotask turn; no timer involved). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** How a promise ends, seen without ever letting it reject unhandled. */
export function observe<T>(promise: Promise<T>) {
  const box: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => {
      box.settled = true;
      box.value = value;
    },
    (error: unknown) => {
      box.settled = true;
      box.error = error;
    },
  );
  return box;
}

/** The `'abort'` listeners `signal` holds now. */
export function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}
