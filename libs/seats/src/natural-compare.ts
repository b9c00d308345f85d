const collator = new Intl.Collator("en", { numeric: true });

/** Orders `A_2` before `A_10`, as a seat map reads. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b);
}
