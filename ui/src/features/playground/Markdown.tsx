import ReactMarkdown, { type Components } from 'react-markdown';

// Model output is Markdown rendered to React elements: raw HTML in it is
// dropped (skipHtml, and no rehype-raw), so nothing reaches an HTML sink and
// the page stays within Trusted Types. Links open in a new tab without the
// opener, and only http(s) and mailto links survive (react-markdown's
// default URL filter removes javascript: and the like).
const components: Components = {
  p: ({ node: _n, ...p }) => <p className="my-2 first:mt-0 last:mb-0" {...p} />,
  ul: ({ node: _n, ...p }) => <ul className="my-2 list-disc pl-5" {...p} />,
  ol: ({ node: _n, ...p }) => <ol className="my-2 list-decimal pl-5" {...p} />,
  h1: ({ node: _n, ...p }) => <p className="my-2 text-base font-bold" {...p} />,
  h2: ({ node: _n, ...p }) => <p className="my-2 font-bold" {...p} />,
  h3: ({ node: _n, ...p }) => <p className="my-2 font-semibold" {...p} />,
  h4: ({ node: _n, ...p }) => <p className="my-2 font-semibold" {...p} />,
  h5: ({ node: _n, ...p }) => <p className="my-2 font-semibold" {...p} />,
  h6: ({ node: _n, ...p }) => <p className="my-2 font-semibold" {...p} />,
  a: ({ node: _n, children, ...p }) => (
    <a className="font-medium text-indigo-700 underline dark:text-indigo-300" target="_blank" rel="noopener noreferrer" {...p}>
      {children}
    </a>
  ),
  // Wrapped rather than scrolled: no scroll region to reach by keyboard, nothing wider than a phone.
  pre: ({ node: _n, ...p }) => <pre className="my-2 whitespace-pre-wrap break-words rounded-md bg-gray-900 p-3 text-xs text-gray-100" {...p} />,
  code: ({ node: _n, className, ...p }) => <code className={`rounded bg-black/5 px-1 font-mono text-[0.85em] dark:bg-white/10 ${className ?? ''}`} {...p} />,
  blockquote: ({ node: _n, ...p }) => <blockquote className="my-2 border-l-4 border-gray-300 pl-3 italic dark:border-gray-600" {...p} />,
  img: ({ node: _n, alt }) => <span>[image: {alt}]</span>,
};

/** Markdown renders model output safely: no raw HTML, no images fetched. */
export function Markdown({ text }: { text: string }) {
  return (
    <ReactMarkdown skipHtml components={components}>
      {text}
    </ReactMarkdown>
  );
}
