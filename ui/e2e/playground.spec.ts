import { checkA11y, expect, noHorizontalScroll, shot, signIn, test } from './fixtures';

interface FeedbackRow {
  response_id: string;
  rating: string;
  comment: string;
}

// The playground chats through the gateway with the signed-in session (no API key in the browser):
// the answer streams in, its usage record gives tokens, cost and the server's timings, and a rating is stored.
test('the playground streams an answer, shows its cost and timings, and stores a thumbs-up', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  await page.goto('/playground');
  const picker = page.getByRole('combobox', { name: 'Model' });
  await expect(picker.getByRole('option', { name: 'sim-small' })).toBeAttached();
  await picker.selectOption('sim-small');
  await page.getByLabel('System prompt').fill('Answer in one short paragraph.');
  await page.getByLabel('Temperature').fill('0.3');
  await page.getByLabel('Max tokens').fill('64');
  await page.getByLabel('Message').fill('Hello from the browser test!');
  const chatResponse = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'));
  await page.getByRole('button', { name: 'Send' }).click();
  const res = await chatResponse;
  expect(res.status()).toBe(200);
  const sent = res.request();
  expect(sent.headers().authorization).toBeUndefined(); // the session, not a key
  expect(sent.headers()['x-csrf-token']).toBeTruthy();
  expect(sent.postDataJSON()).toMatchObject({ model: 'sim-small', stream: true, stream_options: { include_usage: true }, temperature: 0.3, max_tokens: 64 });

  const answer = page.getByTestId('answer');
  await expect(answer.getByTestId('answer-cost')).toHaveText(/^[\d.]+ credits$/);
  await expect(answer.getByTestId('answer-tokens')).toHaveText(/^[1-9]\d* in \/ [1-9]\d* out$/);
  await expect(answer.getByTestId('answer-latency')).toHaveText(/^\d+ ms \(server \d+ ms\)$/);
  await expect(answer.getByTestId('answer-ttft')).toHaveText(/^\d+ ms \(server \d+ ms\)$/);
  await expect(answer.getByTestId('answer-deployment')).toHaveText('sim-small-sim (simulator)');
  expect(((await answer.locator('p').first().textContent()) ?? '').length).toBeGreaterThan(3);

  await answer.getByLabel('Comment on this answer').fill('Clear and quick (e2e).');
  await answer.getByRole('button', { name: 'Good answer' }).click();
  await expect(answer.getByText('Thanks, feedback saved.')).toBeVisible();
  await expect(answer.getByRole('button', { name: 'Good answer' })).toHaveAttribute('aria-pressed', 'true');

  // Stored: the team's feedback, read with the page's own session.
  const stored = await page.evaluate(async () => {
    const r = await fetch('/api/feedback?limit=100', { headers: { Accept: 'application/json' } });
    return ((await r.json()) as { data: FeedbackRow[] }).data;
  });
  const mine = stored.find((f) => f.comment === 'Clear and quick (e2e).');
  expect(mine?.rating).toBe('up');
  expect(mine?.response_id).toMatch(/^chatcmpl-/);
  // Billed under the user's console key, which the keys page lists.
  await shot(page, 'playground-chat');
  await checkA11y(page, 'playground');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.waitForTimeout(400);
  await checkA11y(page, 'playground (dark)');
  await shot(page, 'playground-chat-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 375, height: 800 });
  // Colors ease back from dark (transition-colors): axe must see them settled.
  await page.waitForTimeout(400);
  await noHorizontalScroll(page);
  await checkA11y(page, 'playground (375 px)');
  await shot(page, 'playground-chat-375');

  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto('/keys');
  await expect(page.getByRole('cell', { name: 'console playground', exact: true })).toBeVisible();
});

test('the playground says clearly when a model does not exist', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  await page.route('**/v1/models', (r) => r.fulfill({ status: 503, contentType: 'application/json', body: '{"error":{"message":"down for the test"}}' }));
  await page.goto('/playground');
  await page.getByRole('textbox', { name: 'Model' }).fill('no-such-model');
  await page.getByLabel('Message').fill('Hello?');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByRole('alert').filter({ hasText: /no-such-model/ })).toBeVisible();
  await expect(page.getByTestId('answer')).toHaveCount(0);
});
