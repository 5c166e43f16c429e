import type { ReactNode, ThHTMLAttributes, TdHTMLAttributes } from 'react';

/** Table is a data table that scrolls inside its own box on narrow screens, never the page. */
export function Table({ caption, children }: { caption: string; children: ReactNode }) {
  return (
    // Focusable so keyboard users can scroll it when it is wider than the screen.
    // eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex
    <div role="region" aria-label={`${caption} (scrollable table)`} tabIndex={0} className="-mx-4 overflow-x-auto focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 sm:mx-0">
      <table className="min-w-full divide-y divide-gray-200 text-sm dark:divide-gray-800">
        <caption className="sr-only">{caption}</caption>
        {children}
      </table>
    </div>
  );
}

export function Th({ className = '', ...rest }: ThHTMLAttributes<HTMLTableCellElement>) {
  return <th scope="col" className={`whitespace-nowrap px-3 py-2 text-left font-semibold text-gray-900 dark:text-gray-100 ${className}`} {...rest} />;
}

export function Td({ className = '', ...rest }: TdHTMLAttributes<HTMLTableCellElement>) {
  return <td className={`px-3 py-2 align-top text-gray-700 dark:text-gray-300 ${className}`} {...rest} />;
}
