// Promise.all rejects at the first failure while the other work goes on; a
// caller that then cleans up (removes a staging directory, say) races writes
// still in flight. settleAll waits for every promise, then fails with the first error.
export async function settleAll<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
