/**
 * The verdicts of cases 1, 2, 3 and 6 against the targets of the issue, from the medians of the rounds.
 *
 * @module
 */
import { bestMs, median, medianMs, ratio, rssMB, type Verdict } from '../report.js';
import { CASE1_SLICES, type Results, variantLabel } from './variants.js';

/**
 * The verdict per target of the issue.
 *
 * @example
 * ```ts
 * for (const v of verdicts(results)) console.log(v.target, v.met);
 * ```
 */
export function verdicts(results: Results): Verdict[] {
  const t = (id: string): number => medianMs(results, id);
  const rss = (id: string): number => rssMB(median(results.get(id)?.rssKiB ?? []));
  const out: Verdict[] = [];
  for (const id of CASE1_SLICES) {
    const name = variantLabel(id).replace('slice-fetch ', '');
    const vsAria = t(id) / t('c1.aria2c');
    const vsOne = t(id) / t('c1.undici');
    out.push(
      { target: `1. ${name}: time ≤ 1.15 × aria2c`, measured: ratio(vsAria), met: vsAria <= 1.15 },
      { target: `1. ${name}: time ≤ 1/6 (0.17×) of one GET`, measured: ratio(vsOne), met: vsOne <= 1 / 6 },
    );
  }
  const entries = [
    ['response', '`fetch()`'],
    ['open', 'internal open'],
  ] as const;
  const best = (id: string): number => bestMs(results, id);
  const vsGet = (id: string, min: number, text: string): Verdict => {
    const median = t('c2.undici') / t(id);
    const bestOfN = best('c2.undici') / best(id);
    return { target: text, measured: `${ratio(median)} (best ÷ best ${ratio(bestOfN)})`, met: median >= min };
  };
  for (const [entry, name] of entries) {
    out.push(
      vsGet(`c2.cold.${entry}`, 0.5, `2. ${name}: cold throughput ≥ 0.5 × undici GET`),
      vsGet(`c2.cold.${entry}.steady`, 0.5, `2. ${name}, warm process: cold throughput ≥ 0.5 × undici GET`),
      vsGet(`c2.warm.${entry}`, 0.8, `2. ${name}: warm throughput ≥ 0.8 × undici GET`),
    );
  }
  for (const [entry, name] of entries) {
    const peak = rss(`c2.cold.${entry}`);
    out.push({
      target: `3. ${name}: peak RSS cold 1 GiB ≤ 150 MB`,
      measured: `${Math.round(peak)} MB`,
      met: peak <= 150,
    });
  }
  return out;
}

/**
 * Case 6's verdicts (the case-2 targets of the `fetch()` rows), for runs without cases 1–3.
 *
 * @example
 * ```ts
 * fetchBodyVerdicts(results);
 * ```
 */
export function fetchBodyVerdicts(results: Results): Verdict[] {
  return verdicts(results)
    .filter((v) => v.target.startsWith('2. `fetch()`:') || v.target.startsWith('2. `fetch()`, warm process:'))
    .filter((v) => v.target.includes('cold'));
}
