/**
 * A latency histogram with 1 % wide logarithmic buckets, so generator processes can each record
 * millions of samples and the orchestrator merges them by adding counts (percentiles do not merge).
 */
const STEP = Math.log(1.01);
const BUCKETS = 1600; // covers 0 … ~90 s at 1 % resolution

export class Histogram {
  readonly counts: number[];
  n = 0;
  max = 0;
  constructor(counts?: number[]) {
    this.counts = counts ?? new Array<number>(BUCKETS).fill(0);
    for (const c of this.counts) this.n += c;
  }

  /** Records a value in milliseconds (negative values, from clock skew between processes, count as 0). */
  add(ms: number): void {
    const v = ms > 0 ? ms : 0;
    const i = Math.min(BUCKETS - 1, Math.floor(Math.log1p(v * 10) / STEP));
    this.counts[i]!++;
    this.n++;
    if (v > this.max) this.max = v;
  }

  merge(o: { counts: number[]; max: number }): void {
    for (let i = 0; i < BUCKETS; i++) {
      const c = o.counts[i] ?? 0;
      this.counts[i]! += c;
      this.n += c;
    }
    if (o.max > this.max) this.max = o.max;
  }

  /** The value at quantile q (0…1), as the upper edge of its bucket. */
  pct(q: number): number {
    if (this.n === 0) return NaN;
    const target = Math.ceil(this.n * q);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= target) return Math.min(this.max, Math.expm1((i + 1) * STEP) / 10);
    }
    return this.max;
  }

  toJSON(): { counts: number[]; max: number } {
    return { counts: this.counts, max: this.max };
  }
}
