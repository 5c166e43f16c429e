import { SessionClient } from './client';
import { checkA11y, expect, shot, signIn, test } from './fixtures';

interface ClientErrorRow {
  message: string;
  route: string;
  release: string;
  user_id?: number;
  user_agent?: string;
}

// A page that breaks while rendering shows the route's fallback, and the report reaches the server,
// where an admin reads it. The break is forced by answering the order's API call with a malformed
// body (items: null), which the order page cannot render.
test('an error inside a route shows the fallback and is reported to the admins', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  await page.route(/\/api\/orders\/\d+$/, async (route) => {
    const res = await route.fetch();
    const body = res.status() === 200 ? { ...((await res.json()) as object), items: null } : { id: 1, status: 'pending', items: null, total: 0, currency: 'usd' };
    await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
  });
  const report = page.waitForResponse((r) => r.url().endsWith('/api/client-errors') && r.request().method() === 'POST');
  await page.goto('/billing/orders/1');
  await expect(page.getByRole('heading', { name: 'Something went wrong' })).toBeFocused();
  await expect(page.getByRole('button', { name: 'Try again' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Go to the home page' })).toBeVisible();
  expect((await report).status()).toBe(202);
  await checkA11y(page, 'route error');
  await shot(page, 'route-error');

  const admin = new SessionClient(state.baseURL);
  await admin.login(state.admin.email, state.admin.password);
  const list = await admin.call<{ data: ClientErrorRow[] }>('GET', '/api/admin/client-errors?limit=100');
  const mine = list.data.find((e) => e.route === '/billing/orders/1');
  expect(mine, JSON.stringify(list.data)).toBeTruthy();
  expect(mine?.message).toMatch(/null|map/);
  expect(mine?.release).toBeTruthy();
  expect(mine?.user_id).toBeGreaterThan(0);
  expect(mine?.user_agent).toContain('Chrome');
});
