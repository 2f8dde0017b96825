/**
 * Waiting for a `slice-proxy` the benchmarks started to answer its admin `/healthz`.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `<admin>/healthz` every 50 ms until it answers 2xx; `assertAlive` is called before each try (and once
 * more at the deadline) and throws when the proxy has exited.
 *
 * @example
 * ```ts
 * await waitUntilHealthy('http://127.0.0.1:9090', () => {}, 10_000);
 * ```
 */
export async function waitUntilHealthy(
  admin: string,
  assertAlive: () => void,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    assertAlive();
    const ok = await fetch(`${admin}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    await sleep(50);
  }
  assertAlive();
  throw new Error(`slice-proxy did not become healthy within ${timeoutMs / 1000} s`);
}
