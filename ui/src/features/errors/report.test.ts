import { afterEach, describe, expect, it } from 'vitest';
import { installGlobalErrorReporting, reportClientError, resetReporting } from './report';
import { mockApi } from '../../test/utils';

afterEach(() => resetReporting());

describe('reportClientError', () => {
  it('OK: posts the contract once per message and route', async () => {
    const { calls } = mockApi({ 'POST /api/client-errors': { status: 204 } });
    expect(await reportClientError({ message: 'boom', stack: 's', route: '/keys', request_id: 'req_1' })).toBe(true);
    expect(await reportClientError({ message: 'boom', route: '/keys' })).toBe(false);
    expect(calls[0]?.body).toEqual({ message: 'boom', stack: 's', route: '/keys', release: 'test', request_id: 'req_1' });
  });

  it('NotFound: a missing endpoint turns reporting off', async () => {
    const { calls } = mockApi({});
    expect(await reportClientError({ message: 'a' })).toBe(false);
    expect(await reportClientError({ message: 'b' })).toBe(false);
    expect(calls).toHaveLength(1);
  });

  it('Limit: at most ten reports per page', async () => {
    const { calls } = mockApi({ 'POST /api/client-errors': { status: 500 } });
    for (let i = 0; i < 15; i++) await reportClientError({ message: `m${i}` });
    expect(calls).toHaveLength(10);
  });

  it('Global: uncaught errors and rejections are reported', async () => {
    const { calls } = mockApi({ 'POST /api/client-errors': { status: 204 } });
    const target = new EventTarget() as unknown as Window;
    const off = installGlobalErrorReporting(target);
    target.dispatchEvent(Object.assign(new Event('error'), { message: 'uncaught', error: new Error('uncaught') }));
    target.dispatchEvent(Object.assign(new Event('unhandledrejection'), { reason: 'rejected' }));
    off();
    await new Promise((r) => setTimeout(r, 10));
    expect(calls.map((c) => (c.body as { message: string }).message)).toEqual(['uncaught', 'rejected']);
  });
});
