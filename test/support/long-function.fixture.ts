// A fixture for test/function-length.test.ts: `outer`'s body is 10 lines, 5 of its own beside a 6-line handler.
export function outer(): () => number {
  const a = 1;
  const handler = () => {
    const b = 2;
    const c = 3;
    const d = 4;
    return b + c + d;
  };
  return handler;
}
