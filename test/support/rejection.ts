import { expect } from 'chai';

/**
 * What `work` rejects with; fails the test if it fulfils. The promise counterpart of
 * chai's `expect(fn).to.throw()`, without adding chai-as-promised.
 */
export async function rejectionOf(work: Promise<unknown> | (() => Promise<unknown>)): Promise<unknown> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    return error;
  }
  expect.fail('expected a rejection, but it fulfilled');
}
