import { useState } from 'react';
import { Button } from './Button';

/** usePager slices items into pages of size; the page resets when the list shrinks below it. */
export function usePager<T>(items: T[], size = 25) {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(items.length / size));
  const current = Math.min(page, pages - 1);
  return {
    rows: items.slice(current * size, current * size + size),
    page: current,
    pages,
    setPage,
    total: items.length,
    size,
  };
}

/** Pager is the previous/next control of a paged table. */
export function Pager({ page, pages, setPage, total, size, label }: { page: number; pages: number; setPage: (p: number) => void; total: number; size: number; label: string }) {
  if (pages <= 1) return null;
  const from = page * size + 1;
  const to = Math.min(total, from + size - 1);
  return (
    <nav aria-label={`${label} pages`} className="mt-3 flex flex-wrap items-center justify-between gap-2 text-sm">
      <p className="text-gray-600 dark:text-gray-300" aria-live="polite">
        {from}–{to} of {total}
      </p>
      <div className="flex gap-2">
        <Button variant="secondary" size="sm" disabled={page === 0} onClick={() => setPage(page - 1)}>
          Previous
        </Button>
        <Button variant="secondary" size="sm" disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>
          Next
        </Button>
      </div>
    </nav>
  );
}
